"""rnnbench: train recurrent architectures on long-dependency tasks and compare them with numbers.

Pipeline, one module or package per stage: ``conf/`` (Hydra) → ``rnnbench.data`` (tasks) →
``rnnbench.models`` (cells and wrapper) → ``rnnbench.build`` (config → the run's objects) →
``rnnbench.train`` (the trainer, in phases) → ``rnnbench.record`` (run folder and its schema) →
``rnnbench.report`` (tables and plots). ``rnnbench.cli`` only dispatches; ``rnnbench.job`` is
Hydra's task function.
"""
__version__ = "0.1.0"
