"""The `orchestrate` console script. The command's modules (torch and what it loads) take a second
or two to import: Ctrl-C or SIGTERM meanwhile is held until they are loaded (raised inside an
import, a KeyboardInterrupt printed a long traceback, or was caught by a library's import fallback
and left NumPy half loaded), then ends the command in one line with exit code 130. After that,
SIGTERM (kill, a batch scheduler) is Ctrl-C wherever a command has no handler of its own; a sweep
and a trial stop on both their own way, saving what they did."""

import signal
import sys

from .process_exit import exit_code


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    held: list[int] = []
    stops = [signal.SIGTERM] + [signal.SIGINT] * (signal.getsignal(signal.SIGINT) is not signal.SIG_IGN)
    previous = {sig: signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in stops}
    from .cli import main as run_command

    signal.signal(signal.SIGINT, previous.get(signal.SIGINT, signal.SIG_IGN))
    signal.signal(signal.SIGTERM, _interrupt)
    if held:
        print("orchestrate: interrupted", file=sys.stderr)
        return 130
    return exit_code(run_command())
