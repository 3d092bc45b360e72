"""Hydra discovers rnnbench's SLURM launcher here (plugins must live in the hydra_plugins namespace)."""
