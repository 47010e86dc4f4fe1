"""A sweep whose local Ray was stopped together with its driver still ends in one line.

A SIGTERM to the driver's whole process group or job (`timeout`, Slurm's `scancel` and time limit,
systemd stopping a unit) also reaches the Ray processes `ray.init` started beside it. The driver
stops as on Ctrl-C: Ray Tune saves its state, then stops its trials' actors through Ray's GCS,
which is gone. Each of those calls waited, and 60 s later (Ray's gcs_rpc_server_reconnect_timeout_s)
Ray ended the driver with "Failed to connect to GCS within 60 seconds ... The program will
terminate" and exit code 1, without the line that says how to resume; a batch scheduler's SIGKILL
(Slurm's KillWait: 30 s) often came first.

After a SIGTERM, ``RayGoneWatch`` polls the GCS. Once it has refused connections twice in a row
and Ray Tune is past its last save (its main thread is in the cleanup that follows it), or at the
latest GRACE_S after the signal, the driver prints its last line and exits with code 130. Nothing is lost that a Ctrl-C
keeps: Ray Tune's state was saved, the trials' checkpoints are theirs, and the trials ASHA stopped
are read back from Ray Tune's state on --resume. Before that line, ``before_exit`` (the sweep's
runs marked interrupted in MLflow) runs for at most BEFORE_EXIT_S.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable

GRACE_S = 40.0          # before Ray's own end of a driver that lost its GCS (60 s)
POLL_S = 0.5
BEFORE_EXIT_S = 10.0    # a tracking server that does not answer delays the end no longer
# where Ray Tune's main thread is once its state is saved: the cleanup after its last save
AFTER_LAST_SAVE = (("tune_controller.py", "cleanup"),)


def reachable(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True


def past_last_save(thread_id: int) -> bool:
    """Whether the thread is inside Ray Tune's cleanup, which follows its last save."""
    frame = sys._current_frames().get(thread_id)
    while frame is not None:
        code = frame.f_code
        if any(code.co_filename.endswith(file) and code.co_name == name for file, name in AFTER_LAST_SAVE):
            return True
        frame = frame.f_back
    return False


class RayGoneWatch:
    """``line``: what the driver says last when it ends this way. ``done()`` ends the watch (the
    driver stops Ray itself from then on)."""

    def __init__(self, gcs_address: str, line: str) -> None:
        self.gcs_address = gcs_address
        self.line = line
        self.before_exit: Callable[[], None] | None = None
        self.ended = threading.Event()
        self.started = False

    def start(self) -> None:
        """Called at a SIGTERM; a second one changes nothing."""
        if self.started or self.ended.is_set():
            return
        self.started = True
        main = threading.main_thread().ident
        threading.Thread(target=self._watch, args=(main, time.monotonic()), name="ray-gone-watch",
                         daemon=True).start()

    def done(self) -> None:
        self.ended.set()

    def _watch(self, main: int, since: float) -> None:
        refused = 0
        while not self.ended.wait(POLL_S):
            refused = 0 if reachable(self.gcs_address) else refused + 1
            if refused < 2:                          # twice in a row: not a passing hiccup
                continue
            if past_last_save(main) or time.monotonic() - since > GRACE_S:
                if self.ended.is_set():
                    return
                if self.before_exit is not None:
                    last = threading.Thread(target=self.before_exit, name="before-exit", daemon=True)
                    last.start()
                    last.join(BEFORE_EXIT_S)
                print(self.line, file=sys.stderr, flush=True)
                sys.stdout.flush()
                os._exit(130)
