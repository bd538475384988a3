"""Errors a user (or a listener's browser) can cause, each stated in one line.

The CLI prints :class:`EvalappError` as ``evalapp: error: <message>`` and exits with status 2;
the HTTP API answers :class:`SubmitRejected` with its status code and message.
"""


class EvalappError(Exception):
    """A problem with user input (paths, configs, listening sets, database URLs), in one line."""


class TestConfigError(EvalappError):
    """The listening-test config (TOML) is malformed or does not fit the listening set."""

    __test__ = False  # not a pytest test class


class StorageError(EvalappError):
    """The database cannot be reached, migrated, or does not match the served test."""


class SubmitRejected(EvalappError):
    """A trial submission (or stimulus request) that is refused; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
