"""Prosody modules that condition the backbone (Kathaka, CAMP) — see ``base.ProsodyModule``."""

from synthesis.models.prosody.base import ProsodyContext, ProsodyModule, ProsodyOutput

__all__ = ["ProsodyContext", "ProsodyModule", "ProsodyOutput"]
