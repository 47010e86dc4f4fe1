"""orchestrator.out_of_memory: an allocation the machine cannot make is one line saying what to lower."""

import pytest
import torch

from orchestrator.errors import UsageError
from orchestrator.out_of_memory import out_of_memory_as_one_line, out_of_memory_detail


def test_an_allocation_no_machine_can_make_is_one_line_with_what_to_lower():
    """10^16 bytes (8.9 PiB) is more than a 64-bit machine's address space gives a process."""
    with pytest.raises(UsageError) as err, out_of_memory_as_one_line("cpu", "--samples", "nothing was written"):
        torch.empty(10**16, dtype=torch.uint8)
    assert str(err.value) == "out of memory on cpu (tried to allocate 8.9 PiB): lower --samples; nothing was written"


def test_on_a_gpu_the_line_also_names_other_processes_and_cudas_message_is_read():
    with pytest.raises(UsageError) as err, out_of_memory_as_one_line("cuda:1", "batch_size"):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB. GPU 1 has a total "
                                     "capacity of 139.8 GiB of which 3.1 MiB is free.\nIncluding non-PyTorch memory")
    assert str(err.value) == ("out of memory on cuda:1 (tried to allocate 20.00 MiB): lower batch_size, or free "
                              "the GPU of other processes")


def test_other_errors_go_through_unchanged():
    with pytest.raises(RuntimeError, match="^shape mismatch$"), out_of_memory_as_one_line("cpu", "--samples"):
        raise RuntimeError("shape mismatch")
    assert out_of_memory_detail(RuntimeError("no size here")) == "no size here"
