"""Errors that the user caused (bad input), as opposed to bugs."""


class AnalysisInputError(ValueError):
    """Bad input data or options: the CLI prints the message on one line and exits with 2."""
