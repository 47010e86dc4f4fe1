"""An allocation the machine cannot make, said in one line with what to lower, instead of
PyTorch's allocator traceback (CUDA's message runs over several lines)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from trainer.memory import in_binary_units

from .errors import UsageError


def out_of_memory(err: BaseException) -> bool:
    """PyTorch's out-of-memory error on a GPU, or its CPU allocator's. A program that has not
    imported torch (a command that never needed it) cannot have got one."""
    torch = sys.modules.get("torch")
    return (torch is not None and isinstance(err, torch.OutOfMemoryError)) or (
        isinstance(err, RuntimeError) and "can't allocate memory" in str(err))


def out_of_memory_detail(err: BaseException) -> str:
    """How much it tried to allocate, from PyTorch's message: CUDA's "Tried to allocate 20.00
    MiB", the CPU allocator's "you tried to allocate 125440000000 bytes"."""
    text = " ".join(str(err).split())
    found = re.search(r"[Tt]ried to allocate ([0-9.]+ [KMGTP]iB|[0-9]+ bytes)", text)
    if found is None:
        return text[:120]
    amount = found.group(1)
    if amount.endswith(" bytes"):
        amount = in_binary_units(int(amount.split()[0]))
    return f"tried to allocate {amount}"


@contextmanager
def out_of_memory_as_one_line(device: str, lower: str, kept: str = "") -> Iterator[None]:
    """Inside, an out-of-memory error becomes a UsageError: "out of memory on DEVICE (tried to
    allocate X): lower LOWER[, or free the GPU of other processes][; KEPT]"."""
    try:
        yield
    except RuntimeError as err:
        if not out_of_memory(err):
            raise
        gpu = ", or free the GPU of other processes" if device.startswith("cuda") else ""
        raise UsageError(f"out of memory on {device} ({out_of_memory_detail(err)}): lower {lower}{gpu}"
                         f"{'; ' * bool(kept)}{kept}") from None
