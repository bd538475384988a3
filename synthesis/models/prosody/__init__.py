"""Prosody modules that condition the backbone (Kathaka, CAMP) — see ``base.ProsodyModule``.

The registry lives here rather than in ``backbone`` so a module can register itself with
``from synthesis.models.prosody import register_prosody`` while ``backbone`` is still being
imported (backbone imports this package first). Each module is imported below, one line each.
"""

from synthesis.models.prosody.base import ProsodyContext, ProsodyModule, ProsodyOutput

PROSODY_MODULES: dict[str, type[ProsodyModule]] = {}


def register_prosody(name: str):
    """Class decorator: make a ProsodyModule available as ``ModelConfig.prosody = name``."""
    def deco(cls):
        PROSODY_MODULES[name] = cls
        return cls
    return deco


from synthesis.models.prosody import kathaka  # noqa: F401  registers "kathaka"
from synthesis.models.prosody import camp  # noqa: E402,F401  registers "camp"

__all__ = ["PROSODY_MODULES", "ProsodyContext", "ProsodyModule", "ProsodyOutput", "register_prosody"]
