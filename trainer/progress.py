"""How a long step shows its progress: a tqdm bar on a terminal, a line a minute elsewhere."""

from __future__ import annotations

import sys
import time

LINE_EVERY_S = 60.0            # a progress line this often where stderr is not a terminal


def progress_bar(total: int, initial: int, description: str, unit: str = "it"):
    """A tqdm bar on a terminal; elsewhere (nohup, a batch job's log, CI) a line a minute: a bar
    there is one line rewritten with carriage returns twice a second, megabytes over a long trial."""
    if not sys.stderr.isatty():
        return PlainProgress(total, initial, description, unit)
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit=unit, dynamic_ncols=True, desc=description, mininterval=0.5)


class PlainProgress:
    """tqdm's calls the loops make (update, set_postfix, close), as a line every ``every_s``:
    ``wgangp/digits: 1,200 / 200,000 it, 7.4 it/s, about 7h 28m left | discriminator=3.18``."""

    def __init__(self, total: int, initial: int, description: str, unit: str = "it", every_s: float = LINE_EVERY_S):
        self.total, self.n, self.description, self.unit, self.every_s = total, initial, description, unit, every_s
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
        print(f"{self.description}: {self.n:,} / {self.total:,} {self.unit}, {rate:.3g} {self.unit}/s{left}"
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
