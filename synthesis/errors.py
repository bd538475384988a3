"""Errors a user can cause. The CLI prints them as one line and exits with status 2."""


class SynthesisError(Exception):
    """A problem with user input (paths, audio, configs, text), stated in one line.

    The message names the file (and line, where there is one) and what is wrong.
    """


class CorpusError(SynthesisError):
    """The corpus folder or one of its files is unusable."""


class AudioError(SynthesisError):
    """An audio file cannot be read, or has the wrong format."""


class ConfigError(SynthesisError):
    """A configuration file is malformed or names something unknown."""


class ListeningSetError(SynthesisError):
    """A listening set cannot be built, or an existing one is invalid."""
