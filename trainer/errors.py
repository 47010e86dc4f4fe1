"""The errors the trainer raises for what its user gave it (a dataset, a checkpoint, a metric's
inputs), each message saying what to do. Free of torch, so that a command can catch them without
importing it."""


class DatasetError(RuntimeError):
    """A missing or malformed dataset; the message says where the files must be."""


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read; the message says what to do with it."""


class MetricsError(RuntimeError):
    """A metric cannot be computed as asked; the message says what to supply."""
