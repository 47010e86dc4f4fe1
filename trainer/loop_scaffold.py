"""What every training loop runs inside (``loop.train``, ``fused_loop.train_fused``): Ctrl-C and
SIGTERM asking it to stop after the current iteration, cuDNN autotuning on CUDA, closing the
progress bar (trainer/progress.py), and the default log."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch


def log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def cudnn_autotuning(device: torch.device, enabled: bool) -> Iterator[None]:
    """On a CUDA device, cuDNN times its convolution algorithms at a shape's first call and keeps the
    fastest (a trial's shapes never change). Left off where the caller asked cuDNN for deterministic
    algorithms: the choice by timing can differ between two runs. The previous setting comes back."""
    previous = torch.backends.cudnn.benchmark
    if enabled and device.type == "cuda" and not torch.backends.cudnn.deterministic:
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


@contextmanager
def stop_on_signals(stop: list[bool]) -> Iterator[None]:
    """Ctrl-C / SIGTERM ask the loop to stop after the current iteration (so the checkpoint it
    writes is consistent); a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if stop[0]:
            raise KeyboardInterrupt
        stop[0] = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class LoopControl:
    """The loop's progress bar (or None) and whether it should stop: a signal arrived, or the
    caller's ``should_stop()`` says so."""

    def __init__(self, should_stop: Callable[[], bool] | None, bar):
        self.stop = [False]
        self.should_stop = should_stop
        self.bar = bar

    def stopping(self) -> bool:
        return self.stop[0] or (self.should_stop is not None and self.should_stop())

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update()


@contextmanager
def training_loop(device: torch.device, cudnn_benchmark: bool, should_stop: Callable[[], bool] | None,
                  bar=None) -> Iterator[LoopControl]:
    """The scaffold of a training loop: signals, cuDNN autotuning, and ``bar`` closed at the end."""
    control = LoopControl(should_stop, bar)
    try:
        with stop_on_signals(control.stop), cudnn_autotuning(device, cudnn_benchmark):
            yield control
    finally:
        if bar is not None:
            bar.close()
