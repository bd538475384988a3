"""Acoustic models: the shared backbone (``backbone``), its learned alignment (``alignment``),
layers, and the prosody-module hook (``prosody.base``) through which Kathaka and CAMP plug in."""
