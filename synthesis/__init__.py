"""synthesis: TTS backends, audio front end and listening-set builder for MUSHRA prosody tests."""

__version__ = "0.1.0"

import warnings as _warnings

# pyworld imports the deprecated pkg_resources; the warning is noise for every command.
_warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
