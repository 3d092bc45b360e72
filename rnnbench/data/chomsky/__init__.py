"""The tasks of "Neural Networks and the Chomsky Hierarchy" (Delétang et al. 2023), one file each, and
the protocol they share (protocol.py): train on lengths 1–40, test at every length 41–500.

    regular                 even_pairs, modular_arithmetic, parity_check, cycle_navigation
    deterministic CF        stack_manipulation, reverse_string, modular_arithmetic_brackets, solve_equation
    context-sensitive       duplicate_string, missing_duplicate, odds_first, binary_addition,
                            binary_multiplication, compute_sqrt, bucket_sort

Each task is the authors' task definition (google-deepmind/neural_networks_chomsky_hierarchy,
tasks/), re-written for Python's `random`; where their docstring and their code disagree, the
code is followed and the file says so.
"""
