"""How a trial's training ended: the status its TrialResult carries (and a sweep records)."""

FINISHED, DIVERGED, INTERRUPTED = "finished", "diverged", "interrupted"
