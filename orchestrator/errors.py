"""The errors a user can fix, each said in one line by the `orchestrate` command."""


class UsageError(ValueError):
    """Command-line options that do not fit together."""


class DiskFullError(UsageError):
    """A disk (or a quota) that filled while a command or a sweep's trial wrote to it."""


class ResumeRefused(UsageError):
    """A --resume stopped before any trial started (Ray Tune could not read back the sweep's state)."""


class SpecError(ValueError):
    """A malformed spec file; the message names the file and the field."""


# What to do when an MLflow server with basic auth refuses the request
CREDENTIALS_HINT = "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to a user of the tracking server"
