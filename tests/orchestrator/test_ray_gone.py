"""orchestrator.ray_gone: a driver whose Ray was stopped with it ends in one line, once Ray Tune is
past its last save, and not while Ray answers or after the driver stopped Ray itself. Each case
runs in its own Python process (it may end it with os._exit)."""

import socket
import subprocess
import sys
import textwrap
import threading
import time

from orchestrator.ray_gone import past_last_save, reachable


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_reachable_tells_a_listening_port_from_a_closed_one():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert reachable(f"127.0.0.1:{server.getsockname()[1]}")
    assert not reachable(closed_port())


def test_past_last_save_finds_ray_tunes_cleanup_on_the_threads_stack(tmp_path):
    (tmp_path / "tune_controller.py").write_text("def cleanup(event):\n    event.wait()\n"
                                                 "def step(event):\n    event.wait()\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import tune_controller
    finally:
        sys.path.remove(str(tmp_path))
    release = threading.Event()
    in_cleanup = threading.Thread(target=tune_controller.cleanup, args=(release,))
    in_step = threading.Thread(target=tune_controller.step, args=(release,))
    in_cleanup.start(), in_step.start()
    try:
        time.sleep(0.2)
        assert past_last_save(in_cleanup.ident)
        assert not past_last_save(in_step.ident)
        assert not past_last_save(threading.get_ident())
    finally:
        release.set()
        in_cleanup.join(), in_step.join()


def driver(tmp_path, gcs: str, body: str) -> subprocess.CompletedProcess:
    """A process whose main thread runs ``body`` inside a function ``cleanup`` of a file
    tune_controller.py (where Ray Tune's main thread is after its last save) with a watch
    ``watch`` on the GCS address ``gcs``."""
    (tmp_path / "tune_controller.py").write_text("import time\n\n\ndef cleanup(body, watch):\n    exec(body)\n")
    code = f"""
        import sys, time
        sys.path.insert(0, {str(tmp_path)!r})
        import tune_controller
        from orchestrator.ray_gone import RayGoneWatch
        watch = RayGoneWatch({gcs!r}, "sweep x interrupted, and Ray's processes with it; continue with --resume")
        tune_controller.cleanup({textwrap.dedent(body)!r}, watch)
        print("went on")
    """
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


def test_a_driver_past_its_last_save_with_ray_gone_ends_in_one_line(tmp_path):
    started = time.monotonic()
    ended = driver(tmp_path, closed_port(), "watch.start()\ntime.sleep(30)")
    assert ended.returncode == 130 and time.monotonic() - started < 20
    assert ended.stderr == "sweep x interrupted, and Ray's processes with it; continue with --resume\n"
    assert "went on" not in ended.stdout


def test_no_end_while_ray_answers_or_once_the_driver_stops_ray_itself(tmp_path):
    with socket.socket() as server:                    # Ray's GCS answers: the normal stop goes on
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        went_on = driver(tmp_path, f"127.0.0.1:{server.getsockname()[1]}", "watch.start()\ntime.sleep(2)")
    assert (went_on.returncode, went_on.stdout, went_on.stderr) == (0, "went on\n", "")
    stopped_itself = driver(tmp_path, closed_port(), "watch.start()\nwatch.done()\ntime.sleep(2)")
    assert (stopped_itself.returncode, stopped_itself.stdout) == (0, "went on\n"), stopped_itself.stderr
    not_started = driver(tmp_path, closed_port(), "time.sleep(2)")    # no SIGTERM: nothing watched
    assert (not_started.returncode, not_started.stdout) == (0, "went on\n"), not_started.stderr


def test_before_its_last_line_the_driver_marks_its_runs_for_at_most_a_few_seconds(tmp_path):
    """``before_exit`` (the sweep's MLflow runs marked interrupted) runs before the last line; one
    that hangs (a tracking server that does not answer) is left after BEFORE_EXIT_S."""
    marked = driver(tmp_path, closed_port(), "watch.before_exit = lambda: print('marked', flush=True)\n"
                                             "watch.start()\ntime.sleep(30)")
    assert (marked.returncode, marked.stdout) == (130, "marked\n"), marked.stderr
    started = time.monotonic()
    hung = driver(tmp_path, closed_port(), "import orchestrator.ray_gone as g\ng.BEFORE_EXIT_S = 1.0\n"
                                           "watch.before_exit = lambda: time.sleep(60)\nwatch.start()\ntime.sleep(30)")
    assert hung.returncode == 130 and hung.stderr.startswith("sweep x interrupted") and time.monotonic() - started < 20
