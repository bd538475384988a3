"""Vocoders: acoustic features -> waveform, behind one interface (see ``base.Vocoder``)."""

from synthesis.vocoders.base import Vocoder, available_vocoders, get_vocoder

__all__ = ["Vocoder", "available_vocoders", "get_vocoder"]
