class AnalysisError(Exception):
    """Something the user can fix, said in one line."""
