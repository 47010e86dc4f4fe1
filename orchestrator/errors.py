"""The errors a user can fix, each said in one line by the `orchestrate` command."""


class UsageError(ValueError):
    """Command-line options that do not fit together."""


class SpecError(ValueError):
    """A malformed spec file; the message names the file and the field."""
