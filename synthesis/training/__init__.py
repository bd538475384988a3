"""Training: config (TOML), data from the feature cache, checkpoints, and the one loop every
system (baseline, fs2, Kathaka, CAMP) trains with."""
