"""rnnbench: train recurrent architectures on long-dependency tasks and compare them with numbers.

From Python: ``rnnbench.run(model=..., dataset=..., overrides=[...])`` trains one run exactly as
``rnnbench train`` does and returns its summary; ``rnnbench.build(...)`` returns the model and
task of a config; ``rnnbench.load_runs(path)`` and ``rnnbench.load_curves(path)`` the records and
their learning curves as pandas DataFrames; ``rnnbench.load_model(run_dir)`` a trained model and its
task (rnnbench/api.py).

Pipeline, one module or package per stage: ``conf/`` (Hydra) → ``rnnbench.data`` (tasks) →
``rnnbench.models`` (cells and wrapper) → ``rnnbench.training.build`` (config → the run's objects) →
``rnnbench.training.trainer`` (the trainer, in phases) → ``rnnbench.training.record`` (run folder and its schema) →
``rnnbench.report`` (tables and plots). ``rnnbench.cli`` only dispatches; ``rnnbench.launch.job`` is
Hydra's task function.
"""

__version__ = "0.1.0"
__all__ = ["run", "build", "load_runs", "load_curves", "load_model"]


def __getattr__(name: str):
    """The API's functions, imported on first use: `import rnnbench` stays light (the CLI imports it)."""
    if name in __all__:
        from rnnbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'rnnbench' has no attribute {name!r}")
