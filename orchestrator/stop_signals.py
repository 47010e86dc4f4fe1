"""How a sweep's driver stops on Ctrl-C and SIGTERM, from its first step to its last: one line and
exit code 130, never a Ray C stack dump, never an interrupt lost.

- SIGTERM (kill, `ray job stop`, a batch scheduler's preemption notice) stops it as Ctrl-C does.
  Ray's core worker installs its own SIGTERM handler when Ray starts (a C stack dump, exit code
  15), so the driver installs this one again once Ray runs (``Stopping.sigterm``). While the
  trials run, Ray Tune's own Ctrl-C handler saves its state for --resume.
- Ctrl-C raises KeyboardInterrupt wherever the main thread is. Inside a fork handler (logging's
  runs at every fork, and Ray forks its processes while it starts) CPython prints "Exception
  ignored" and drops it: the sweep went on as if nothing had been pressed. The handler records
  it too, and ``Stopping.check`` raises it again at the driver's next step.
- A SIGTERM that also stopped the Ray processes beside the driver (sent to its whole process
  group or job) ends it in one line too (orchestrator/ray_gone.py).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

from .ray_gone import RayGoneWatch


class Stopping:
    def __init__(self) -> None:
        self.pressed = False
        self.ray_gone: RayGoneWatch | None = None     # while Ray runs: see orchestrator/ray_gone.py

    def on_ctrl_c(self, signum, frame) -> None:
        self.pressed = True
        raise KeyboardInterrupt

    def on_sigterm(self, signum, frame) -> None:
        ray_tune_runs = signal.getsignal(signal.SIGINT) not in (self.on_ctrl_c, signal.SIG_IGN, signal.SIG_DFL)
        saves = " (Ray Tune saves its state for --resume)" if ray_tune_runs else ""
        print(f"SIGTERM: stopping the sweep as on Ctrl-C{saves}", file=sys.stderr, flush=True)
        if self.ray_gone is not None:
            self.ray_gone.start()
        if ray_tune_runs:
            signal.raise_signal(signal.SIGINT)
        else:                            # also where Ctrl-C is ignored (a background job)
            self.on_ctrl_c(signum, frame)

    def check(self) -> None:
        """Raise an interrupt that came but was dropped on the way (see the module's note)."""
        if self.pressed:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def sigterm(self, ray_gone: RayGoneWatch | None = None) -> Iterator[None]:
        """This handler for SIGTERM again (after Ray started and put its own in its place);
        ``ray_gone`` watches, from a SIGTERM on, for Ray stopped along with the driver."""
        if not _in_main_thread():
            yield
            return
        previous = signal.signal(signal.SIGTERM, self.on_sigterm)
        self.ray_gone = ray_gone
        try:
            yield
        finally:
            if ray_gone is not None:
                ray_gone.done()              # from here the driver stops Ray itself
            self.ray_gone = None
            signal.signal(signal.SIGTERM, previous)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def stop_signals() -> Iterator[Stopping]:
    """Ctrl-C and SIGTERM handled as the module says while the driver runs; a Ctrl-C a background
    job ignores stays ignored."""
    stopping = Stopping()
    if not _in_main_thread():
        yield stopping
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, stopping.on_ctrl_c)
    try:
        with stopping.sigterm():
            yield stopping
    finally:
        if previous is not None:         # None: a handler not set from Python, which cannot be put back
            signal.signal(signal.SIGINT, previous)
