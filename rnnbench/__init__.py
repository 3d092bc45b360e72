"""rnnbench: train recurrent architectures on long-dependency tasks and compare them with numbers.

Pipeline, one package per stage: ``conf/`` (Hydra) → ``rnnbench.data`` (tasks) →
``rnnbench.models`` (cells and wrapper) → ``rnnbench.train`` (trainer) → ``rnnbench.record``
(run folder) → ``rnnbench.report`` (tables and plots). ``rnnbench.cli`` only dispatches.
"""
__version__ = "0.1.0"
