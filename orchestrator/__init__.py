"""The `orchestrate` command: trials, sweeps and their tracking."""
