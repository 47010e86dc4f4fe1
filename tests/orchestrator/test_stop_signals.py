"""orchestrator.stop_signals and orchestrator.entry: Ctrl-C and SIGTERM stop the command in one
line from its first instant, and none is lost. Each case runs in its own Python process: signal
handlers and fork hooks are process-wide."""

import subprocess
import sys
import textwrap

import pytest


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_stop_while_the_commands_modules_load_is_one_line(signal_name):
    """The signal arrives while orchestrator.cli (torch, NumPy, ...) is being imported: held until
    the import is done, then one line and exit code 130, not a traceback from inside the import."""
    result = python(f"""
        import builtins, os, signal, sys
        real_import = builtins.__import__
        def import_(name, *args, **kwargs):
            if name == "cli":                          # entry's `from .cli import main`
                os.kill(os.getpid(), signal.{signal_name})
            return real_import(name, *args, **kwargs)
        builtins.__import__ = import_
        sys.argv = ["orchestrate", "sweep", "search_spaces/smoke.yaml"]
        from orchestrator.entry import main
        sys.exit(main())
    """)
    assert (result.returncode, result.stderr) == (130, "orchestrate: interrupted\n")


def test_sigterm_is_ctrl_c_and_ray_tunes_handler_gets_it_while_the_trials_run():
    result = python("""
        import os, signal, sys
        from orchestrator.stop_signals import stop_signals
        with stop_signals() as stopping:
            try:
                os.kill(os.getpid(), signal.SIGTERM)       # before the trials: KeyboardInterrupt
            except KeyboardInterrupt:
                print("interrupted", stopping.pressed)
            tune = []                                     # while they run, Ray Tune's SIGINT handler
            signal.signal(signal.SIGINT, lambda signum, frame: tune.append(signum))
            os.kill(os.getpid(), signal.SIGTERM)
            print("ray tune got", tune == [signal.SIGINT])
    """)
    assert result.stdout.split("\n")[:2] == ["interrupted True", "ray tune got True"], result.stderr
    assert result.stderr.splitlines() == [
        "SIGTERM: stopping the sweep as on Ctrl-C",
        "SIGTERM: stopping the sweep as on Ctrl-C (Ray Tune saves its state for --resume)"]


def test_a_ctrl_c_dropped_in_a_fork_handler_is_raised_at_the_next_check():
    """CPython drops a KeyboardInterrupt raised inside an at-fork hook ("Exception ignored in"):
    logging's hook runs at every fork, and Ray forks its processes as it starts. Ctrl-C pressed
    then went unnoticed and the sweep ran on."""
    result = python("""
        import os, signal, subprocess
        from orchestrator.stop_signals import stop_signals
        with stop_signals() as stopping:
            os.register_at_fork(after_in_parent=lambda: os.kill(os.getpid(), signal.SIGINT))
            subprocess.run(["true"], preexec_fn=lambda: None)    # as Ray starts its processes: the
                                                                 # interrupt is raised in the hook, dropped
            print("went on")
            try:
                stopping.check()
            except KeyboardInterrupt:
                print("raised at the check")
    """)
    assert result.stdout.splitlines() == ["went on", "raised at the check"], result.stderr
    assert "Exception ignored" in result.stderr


def test_a_background_job_that_ignores_ctrl_c_still_stops_on_sigterm():
    result = python("""
        import os, signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)      # `command &` in a script
        from orchestrator.stop_signals import stop_signals
        with stop_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            try:
                os.kill(os.getpid(), signal.SIGTERM)
            except KeyboardInterrupt:
                print("stopped")
        print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
    """)
    assert result.stdout.splitlines() == ["stopped", "True"], result.stderr
