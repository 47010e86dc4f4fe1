"""The MLflow UI server behind `orchestrate ui`, as one thing that starts and stops with the command.

`mlflow ui` runs uvicorn, its workers and MLflow's job consumers as processes of its own. Killed
with it (as ``subprocess.call`` kills it on Ctrl-C), they lived on and kept the port; a SIGTERM
to the command alone (`timeout`, a process manager, `kill`) left the whole server running. The
server gets a process group of its own, and whatever ends the command (Ctrl-C, SIGTERM, the
server's own exit) ends that group: SIGTERM, then SIGKILL for what is left after a few seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

# MLflow's own hint, for `mlflow ui` options (--host 0.0.0.0, --allowed-hosts) that `orchestrate ui`
# does not have: the UI is for this machine, and another reaches it through a tunnel (its first line)
MLFLOW_HOST_HINT = "[MLflow] Security middleware enabled with default settings (localhost-only)."
STOP_WAIT_S = 10.0


def serve(command: list[str], env: dict[str, str], verbose: bool) -> int:
    """Run the server ``command`` until it exits or this process is stopped; its exit code."""
    server = subprocess.Popen(command, env=env, stderr=None if verbose else subprocess.PIPE, text=True,
                              errors="replace", start_new_session=True)
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if server.stderr is not None:
            for line in server.stderr:
                if not line.startswith(MLFLOW_HOST_HINT):
                    print(line, end="", file=sys.stderr, flush=True)
        return server.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_group(server)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def stop_group(server: subprocess.Popen) -> None:
    """End every process of the server's group: SIGTERM (uvicorn shuts down cleanly), then SIGKILL."""
    deadline = time.monotonic() + STOP_WAIT_S
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:          # none of its processes is left
            break
        while time.monotonic() < deadline and _group_alive(server):
            time.sleep(0.1)
        if not _group_alive(server):
            break
    if server.stderr is not None:
        server.stderr.close()
    server.wait()


def _group_alive(server: subprocess.Popen) -> bool:
    server.poll()                           # reap the server itself: a zombie still counts as in the group
    try:
        os.killpg(server.pid, 0)
    except ProcessLookupError:
        return False
    return True
