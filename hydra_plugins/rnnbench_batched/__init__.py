"""Hydra discovers rnnbench's batched launcher here (plugins must live in the hydra_plugins namespace)."""
