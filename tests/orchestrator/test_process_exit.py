"""orchestrator/process_exit.py: the command's exit code comes back unchanged, and what the
process made so far is left out of the garbage collections at exit."""

import gc
import subprocess
import sys

from orchestrator.process_exit import exit_code


def test_exit_code_is_returned_and_the_heap_so_far_is_frozen():
    assert gc.get_freeze_count() == 0
    kept = [[] for _ in range(100)]
    try:
        assert exit_code(3) == 3
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.unfreeze()                           # this test process goes on


def test_a_command_run_as_a_module_keeps_its_exit_code_and_its_error_line(tmp_path):
    """`python -m orchestrator.cli` (how the benchmark and batch scripts call it) exits through
    exit_code too, with the command's own code and its one line."""
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "analyze", "smoke", "--storage",
                          str(tmp_path / "nothing")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("orchestrate analyze: error: ") and len(out.stderr.strip().splitlines()) == 1
