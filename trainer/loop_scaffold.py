"""What every training loop runs inside (``loop.train``, ``fused_loop.train_fused``): Ctrl-C and
SIGTERM asking it to stop after the current iteration, cuDNN autotuning on CUDA, a progress bar,
and the default log."""

from __future__ import annotations

import signal
import sys
import threading
import time
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


LINE_EVERY_S = 60.0            # a progress line this often where stderr is not a terminal


def progress_bar(total: int, initial: int, description: str):
    """A tqdm bar on a terminal; elsewhere (nohup, a batch job's log, CI) a line a minute: a bar
    there is one line rewritten with carriage returns twice a second, megabytes over a long trial."""
    if not sys.stderr.isatty():
        return ProgressLines(total, initial, description)
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="it", dynamic_ncols=True, desc=description, mininterval=0.5)


class ProgressLines:
    """tqdm's calls the loops make (update, set_postfix, close), as a line every ``every_s``:
    ``wgangp/digits: 1,200 / 200,000 it, 7.4 it/s, about 7h 28m left | discriminator=3.18``."""

    def __init__(self, total: int, initial: int, description: str, every_s: float = LINE_EVERY_S):
        self.total, self.n, self.description, self.every_s = total, initial, description, every_s
        self.started = self.last = time.monotonic()
        self.first, self.said, self.postfix = initial, initial, ""

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last >= self.every_s:
            self.say()

    def set_postfix(self, values: dict, refresh: bool = True) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def close(self) -> None:
        if self.n != self.said:
            self.say()

    def say(self) -> None:
        now = time.monotonic()
        rate = (self.n - self.first) / max(now - self.started, 1e-9)
        left = f", about {duration((self.total - self.n) / rate)} left" if rate > 0 and self.n < self.total else ""
        print(f"{self.description}: {self.n:,} / {self.total:,} it, {rate:.3g} it/s{left}"
              f"{' | ' + self.postfix if self.postfix else ''}", file=sys.stderr, flush=True)
        self.last, self.said = now, self.n


def duration(seconds: float) -> str:
    """``45s``, ``12m 05s``, ``7h 28m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


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
