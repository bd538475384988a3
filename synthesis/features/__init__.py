"""The feature cache that ``synthesis prepare`` writes and training reads.

``acoustic``: per-clip log-mel, WORLD features, F0/voicing and energy; ``cache``: the on-disk
layout (one ``.npz`` per clip and side, a manifest with versions and config hashes).
"""
