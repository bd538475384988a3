"""Objective evaluation of TTS systems against held-out recordings.

Layers: ``metrics``, ``pauses``, ``stats`` and ``text_norm`` are pure functions; ``features``
(WORLD analysis), ``asr`` (Whisper) and ``mos`` (DistillMOS) wrap the models; ``systems`` is
what gets scored; ``runner`` measures and caches; ``report`` renders; ``pipeline`` is the
``synthesis evaluate`` library call. See docs/evaluation.md.
"""
