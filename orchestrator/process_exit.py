"""How the `orchestrate` process ends. Python's exit runs a garbage collection over every object
torch, Ray and MLflow left behind: 1.5 s of a sweep's exit on 2 cores, half a second of a
command's that fails at once. Frozen objects are skipped by it; atexit handlers and the __del__ of
objects freed by reference count still run. Only for a process that is about to exit: a frozen
heap is never collected again."""

import gc


def exit_code(code: int) -> int:
    """``code``, after leaving the objects made so far out of the collections at exit."""
    gc.freeze()
    return code
