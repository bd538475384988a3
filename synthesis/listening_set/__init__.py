"""Listening sets: the contract between synthesis and evalapp (see docs/listening-sets.md).

``manifest`` (schema, parsing; pure) and ``folder`` (reading and verifying a set on disk) import
only light dependencies, so evalapp can use them without torch.
"""

from synthesis.listening_set.folder import read_set, verify_set
from synthesis.listening_set.manifest import FORMAT_VERSION, Condition, Item, Manifest, Stimulus

__all__ = ["FORMAT_VERSION", "Condition", "Item", "Manifest", "Stimulus", "read_set", "verify_set"]
