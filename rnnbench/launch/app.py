"""`rnnbench train` as a Hydra application: the one place where rnnbench meets Hydra's command line.

    launch(args) → the outcome of every run the command ran: {"dir", "status", "reason"}

`args` are what follows `rnnbench train` (overrides, -m, --cfg, --help, hydra/launcher=…), read
by Hydra's own argument parser; nothing touches `sys.argv` or the environment. Hydra composes
conf/train.yaml and runs it — one job (`Hydra.run`) or a sweep through its sweeper and launcher
(`Hydra.multirun`) — with the task function launch/job.py:run_job, which trains the job's config
(training/trainer.py:train). Errors come back as exceptions (Hydra's `run_and_report`, which prints
a report and exits, is not used) and leave here as one-line `UserError`s.

What ran is what the jobs' `JobReturn`s say, whichever launcher ran them (in this process, in
worker processes, on a cluster): each names its run folder, whose record gives the outcome; a job
a launcher saw end without a result (a cluster job killed: launch/slurm.py) returns `LostJob`,
its reason.
"""

from __future__ import annotations

import os
from typing import Any

from rnnbench.config import (
    config_dir,
    hydra_error_message,
    register_resolvers,
    unknown_key_message,
    yaml_error_message,
)
from rnnbench.errors import UNWRITABLE, UserError, cannot_write
from rnnbench.launch.sweep import LostJob, outcome_of, run_folder

CONFIG_NAME = "train"


def launch(args: list[str]) -> list[dict]:
    """Run `rnnbench train ARGS`; return the outcome of each run it trained (none for --cfg, --help)."""
    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return _run_app(list(args))
    except (HydraException, OmegaConfBaseException) as exc:
        raise UserError(
            unquoted_equals(exc, args) or unknown_key_message(exc, args) or hydra_error_message(exc)
        ) from None
    except yaml.YAMLError as exc:  # a config file (yours, with --config-dir) that does not parse
        raise UserError(yaml_error_message(exc)) from None
    except ValueError as exc:
        if not str(exc).startswith("Only one of --run, --multirun"):  # Hydra's own flags, combined
            raise
        raise UserError(f"{exc} (--cfg job shows the config of a single run: drop -m)") from None
    except OSError as exc:  # Hydra creating the run folder, or the record inside it
        if exc.errno not in UNWRITABLE:
            raise
        raise cannot_write(exc) from None


def _run_app(args: list[str]) -> list[dict]:
    """What hydra.main does with the command line, its results returned instead of printed."""
    from hydra import version
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_config_search_path, get_args_parser
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    from rnnbench.launch.job import run_job

    version.setbase("1.3")  # as hydra.main(version_base="1.3"): jobs keep the working directory
    register_resolvers()  # the resolvers that name run folders (config.py)
    parser = get_args_parser()
    parser.error = lambda message: _refuse(message, args)  # argparse would print its usage and exit
    options = parser.parse_args(args)
    if options.config_name is not None or options.config_path is not None:
        raise UserError("rnnbench train composes conf/train.yaml; add configs of your own with --config-dir DIR")
    if options.resolve and not (options.cfg or options.help):
        raise UserError("--resolve goes with --cfg or --help")
    commands = (
        options.run
        + options.multirun
        + (options.cfg is not None)
        + (options.info is not None)
        + options.shell_completion
    )
    if commands > 1:
        raise ValueError("Only one of --run, --multirun, --cfg, --info and --shell_completion can be specified")
    search_path = create_config_search_path(f"file://{config_dir()}")
    if options.config_dir is not None:
        extra = os.path.abspath(options.config_dir)
        if not os.path.isdir(extra):
            raise UserError(f"--config-dir {options.config_dir}: no such folder")
        from hydra.core.config_search_path import SearchPathQuery

        search_path.prepend(provider="command-line", path=f"file://{extra}", anchor=SearchPathQuery(provider="schema"))
    hydra = Hydra.create_main_hydra2(task_name=CONFIG_NAME, config_search_path=search_path)
    overrides = list(options.overrides)
    try:
        if options.help or options.hydra_help:
            show = hydra.app_help if options.help else hydra.hydra_help
            show(config_name=CONFIG_NAME, args_parser=parser, args=options)
            return []
        if options.cfg:
            hydra.show_cfg(
                config_name=CONFIG_NAME,
                overrides=overrides,
                cfg_type=options.cfg,
                package=options.package,
                resolve=options.resolve,
            )
            return []
        if options.info:
            hydra.show_info(options.info, config_name=CONFIG_NAME, overrides=overrides)
            return []
        if options.shell_completion:
            hydra.shell_completion(config_name=CONFIG_NAME, overrides=overrides)
            return []
        mode = hydra.get_mode(config_name=CONFIG_NAME, overrides=overrides)  # hydra.mode, set by a config
        if options.multirun or (mode == RunMode.MULTIRUN and not options.run):
            returns = hydra.multirun(
                config_name=CONFIG_NAME, task_function=run_job, overrides=[*overrides, "hydra.mode=MULTIRUN"]
            )
        else:
            returns = hydra.run(
                config_name=CONFIG_NAME, task_function=run_job, overrides=[*overrides, "hydra.mode=RUN"]
            )
    finally:
        GlobalHydra.instance().clear()
    return [outcome(ret) for ret in job_returns(returns)]


def unquoted_equals(exc: BaseException, args: list[str]) -> str | None:
    """For a value holding '=' unquoted (dataset.filter=Symbol=AAPL), which Hydra's grammar reads
    as a syntax error, the override and how to quote it; else None."""
    if "mismatched input '='" not in str(exc):
        return None
    for arg in args:
        key, _, value = arg.partition("=")
        if "=" in value and value[:1] not in "'\"" and key.replace(".", "").replace("_", "").isalnum():
            return (
                f"{arg}: a value with '=' in it is quoted for Hydra, and the quotes for the shell: \"{key}='{value}'\""
            )
    return None


def _refuse(message: str, args: list[str]) -> None:
    if "-m" in args[1:] or "--multirun" in args[1:]:
        message += "; put -m before the overrides (rnnbench train -m model=rnn,gru seed=0,1)"
    else:
        message += (
            "; rnnbench train takes Hydra overrides (model=gru trainer.lr=0.01), -m for a sweep, and Hydra's flags"
        )
    raise UserError(message)


def job_returns(returns: Any) -> list:
    """The JobReturns in what a run or a sweeper returned (the basic sweeper: a list per batch)."""
    from hydra.core.utils import JobReturn

    if isinstance(returns, JobReturn):
        return [returns]
    if isinstance(returns, (list, tuple)):
        return [ret for item in returns for ret in job_returns(item)]
    return []


def outcome(ret: Any) -> dict:
    """A job's outcome: its record's, or why a launcher lost it."""
    if isinstance(ret._return_value, LostJob):
        return {"dir": ret._return_value.folder, "status": "failed", "reason": ret._return_value.reason}
    return outcome_of(run_folder(ret))
