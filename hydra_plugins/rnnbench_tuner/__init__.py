"""Hydra discovers rnnbench's tuner here (plugins must live in the hydra_plugins namespace)."""
