"""rnnbench's command line. It only dispatches; each command imports what it needs when it runs,
so `rnnbench --help` and `rnnbench list` start without torch, pandas or matplotlib."""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import datetime
from pathlib import Path

from rnnbench.config import fresh_dir, one_line, quoted
from rnnbench.errors import UNWRITABLE, AbortJob, UserError, cannot_write

USAGE = """\
usage: rnnbench COMMAND [ARGS...]

Train recurrent architectures on long-dependency tasks and compare them with numbers.

commands:
  train [OVERRIDES...]     one run, or a sweep with -m (Hydra: model=lstm dataset=copy seed=0,1,2 ...;
                           also --cfg job, --help, hydra/launcher=...)
  report PATH... [--out DIR] [--where KEY=VALUE] [--group-by KEY...] [--metric NAME...]
                           comparison tables with 95% intervals and claim verdicts (Markdown to
                           stdout; CSV, Markdown, LaTeX, HTML with the plots, PNG in DIR)
                           of the run records under PATH
  study NAME|FILE.yaml [OVERRIDES...]
                           a comparison on the fair protocol (conf/study/NAME.yaml; claims: the
                           folk claims; or a study file of your own, with its claims): every
                           model tuned alike, then fresh seeds for the test numbers, then the
                           report (study.scale=full, study.seed_offset=K)
  bench [--full] [--models M...] [--seq-lens T...] [--out DIR] ...
                           microbenchmark of the recurrent cores: tokens/s forward and train step,
                           FLOPs, % of the measured matmul peak, memory; ratios fused/torch.nn,
                           reference/fused, scan/loop (--full: the big grid)
  time PATH [--rounds R] [--min-time S]
                           the training step of each run under PATH timed alone, as built and on
                           reference loops (RUN_DIR/timing.json; speed claims read it)
  resume RUN_DIR [OVERRIDES...]
                           continue a killed run in its folder from its last checkpoint (with the
                           overrides it was started with; a completed run is left as it is)
  eval RUN_DIR OVERRIDES... a trained run scored on new data of its task, above all at other lengths
                           (dataset.seq_len=800): RUN_DIR/eval/<overrides>.json, shown by report
  sample RUN_DIR [--prompt TEXT] [--length N] [--temperature T] [--seed S]
                           text from a trained language model (a run on dataset=text)
  status PATH              where a run, sweep or study stands: counts by state, each running run's step,
                           rate and time left, failures with their reasons
  list                     models, datasets, optimizers, experiments and their options
  demo [OVERRIDES...]      rnn vs lstm vs gru on the adding problem, two seeds each, then the report

examples:
  rnnbench train model=gru dataset=adding dataset.seq_len=200 seed=1
  rnnbench train -m model=rnn,lstm,gru dataset=copy seed=0,1,2
  rnnbench report outputs/
  rnnbench resume outputs/runs/2026-11-23_10-00-00_gru_adding_s0
  rnnbench study claims                  (then: rnnbench report outputs/studies/claims/<time>)

A killed sweep resumes by running the same command with hydra.sweep.dir=<its folder>: completed
runs are skipped, killed ones continue from their checkpoints, failed ones start over.
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    if argv[0] == "--version":
        from rnnbench import __version__

        print(f"rnnbench {__version__}")
        return 0
    commands = {
        "train": train,
        "resume": resume,
        "eval": evaluate,
        "sample": sample,
        "status": status,
        "report": report,
        "study": study,
        "bench": bench,
        "time": time_command,
        "list": list_options,
        "demo": demo,
    }
    command, args = argv[0], argv[1:]
    try:
        if command not in commands:
            raise UserError(f"unknown command '{command}'; choose from: {', '.join(commands)}")
        return commands[command](args)
    except (UserError, AbortJob) as exc:
        print(f"rnnbench: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder of results that cannot be made or written (report --out, demo, bench)
        if exc.errno not in UNWRITABLE or exc.filename is None:
            raise
        print(f"rnnbench: error: {cannot_write(exc, OPTION_FOR_PLACE.get(command, 'another path'))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnbench: interrupted", file=sys.stderr)
        return 130


# The option that chooses where a command writes (for the message when it cannot).
OPTION_FOR_PLACE = {
    "report": "--out DIR",
    "bench": "--out DIR",
    "demo": "another working folder",
    "study": "output_root=DIR or study.dir=DIR",
}


def train(args: list[str]) -> int:
    """launch/app.py runs Hydra; here the failed runs are listed (they make the exit code 1), then
    where the runs are and the command that compares them."""
    from rnnbench.launch.app import launch
    from rnnbench.launch.sweep import describe_end, describe_failures

    outcomes = launch(args)
    failures = describe_failures(outcomes)
    for text in (failures, describe_end(outcomes)):
        if text:
            print(text, file=sys.stderr)
    return 1 if failures else 0


def resume(args: list[str]) -> int:
    """`rnnbench train` again in RUN_DIR with the overrides it was started with (saved in
    RUN_DIR/.hydra/overrides.yaml), as a single run even if it was one job of a sweep. OVERRIDES
    replace saved ones of the same key (trainer.threads=2), so only what the folder allows to
    change may differ (config.INCIDENTAL_KEYS; anything else is refused, naming the keys)."""
    if not args:
        raise UserError("'rnnbench resume' needs the run folder: rnnbench resume RUN_DIR [OVERRIDES...]")
    run_dir, extra = Path(args[0]), args[1:]
    saved = run_dir / ".hydra" / "overrides.yaml"
    how = f"resume with 'rnnbench train <the same overrides> hydra.run.dir={quoted(str(run_dir))}'"
    if not saved.is_file():
        raise UserError(f"{run_dir} is not an rnnbench run folder (no .hydra/overrides.yaml); {how}")
    import yaml
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf import ListConfig, OmegaConf

    try:
        loaded = OmegaConf.load(saved)
        if not isinstance(loaded, ListConfig):
            raise ValueError(f"a {type(loaded).__name__}, not a list")
        parsed = OverridesParser.create().parse_overrides([str(o) for o in loaded] + list(extra))
    except (ValueError, OSError, HydraException, yaml.YAMLError) as exc:
        raise UserError(f"{saved} is not a list of overrides ({one_line(str(exc))}); {how}") from None
    merged = {o.get_key_element(): o.input_line for o in parsed}  # a later override of a key replaces it
    return train([*merged.values(), f"hydra.run.dir={quoted(str(run_dir))}", "hydra.mode=RUN"])


def evaluate(args: list[str]) -> int:
    """commands/evaluate.py: the run in RUN_DIR, or every run in a FOLDER, on the data OVERRIDES describe."""
    if not args or args[0].startswith("-"):
        raise UserError(
            "'rnnbench eval' needs a run folder (or a folder of runs) and what to change: rnnbench eval RUN_DIR "
            "dataset.seq_len=800 [dataset.KEY=VALUE[,VALUE...]...]"
        )
    from rnnbench.commands.evaluate import eval_folder

    scored, skipped = 0, []
    for run_dir, record in eval_folder(Path(args[0]), args[1:]):
        if isinstance(record, str):
            skipped.append(f"  {run_dir}: {record}")
            continue
        scored += 1
        changes = ", ".join(f"{k}: {record['trained'][k]} → {v}" for k, v in record["changed"].items())
        print(f"{run_dir} ({changes}; {record['samples']} test samples of length {record['seq_len']})")
        for metric, value in record["metrics"].items():
            print(f"  {metric} {value:.4f}   (baseline {record['baseline_name']}: {record['baseline'][metric]:.4f})")
    if skipped:
        print(f"skipped {len(skipped)}:", *skipped, sep="\n")
    if not scored:
        raise UserError(f"no run in {args[0]} could be scored (see above)")
    print(f"rnnbench: {scored} evaluation{'s' * (scored > 1)} written; next: rnnbench report {shlex.quote(args[0])}")
    return 0


def sample(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rnnbench sample", description="Text from a trained language model (rnnbench/commands/sample.py)."
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the folder of a completed run on dataset=text")
    parser.add_argument("--prompt", help="text to continue (default: the first window of the test text)")
    parser.add_argument("--length", type=int, default=300, help="tokens to generate (default: 300)")
    parser.add_argument("--temperature", type=float, default=0.8, help="softmax temperature (default: 0.8)")
    parser.add_argument("--seed", type=int, default=0, help="the sampler's seed (default: 0)")
    options = parser.parse_args(args)
    from rnnbench.commands.sample import sample as generate

    prompt, text = generate(options.run_dir, options.prompt, options.length, options.temperature, options.seed)
    print(f"{prompt}\n----- generated (temperature {options.temperature:g}, seed {options.seed}) -----\n{text}")
    return 0


def status(args: list[str]) -> int:
    if len(args) != 1 or args[0].startswith("-"):
        raise UserError("'rnnbench status' takes one folder: rnnbench status PATH (a run, a sweep or a study)")
    from rnnbench.commands.status import describe

    print(describe(Path(args[0])), end="")
    return 0


def report(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rnnbench report", description="Compare the runs recorded under PATH(s).")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="run folders or folders containing them")
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write report.{md,csv,tex,html} and plots (default: PATH/report for the first PATH)",
    )
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE[,VALUE]",
        help="keep runs with this value (model, dataset, seed, status or a config key such as "
        "dataset.seq_len); repeat to combine",
    )
    parser.add_argument(
        "--group-by", nargs="+", metavar="KEY", help="config keys that split groups, instead of every key that varies"
    )
    parser.add_argument("--metric", nargs="+", metavar="NAME", help="the task metrics to show (plots use the first)")
    parser.add_argument(
        "--format",
        nargs="+",
        default=[],
        metavar="FMT",
        dest="formats",
        help="the plots also as svg and/or pdf, beside the PNGs (for a paper)",
    )
    parser.add_argument(
        "--include-running",
        action="store_true",
        help="runs still training too: their learning curves so far (tables count them as running)",
    )
    parser.add_argument(
        "--claims",
        type=Path,
        metavar="FILE.yaml",
        help="decide these claims instead of the folk ones (conf/claims/folk.yaml shows the format; "
        "default: the claims.yaml a study file left in its study folder)",
    )
    options = parser.parse_args(args)
    from rnnbench.report import write_report

    kept = Path(options.paths[0]) / "claims.yaml"  # study/protocol.py CLAIMS_FILE
    if options.claims is None and len(options.paths) == 1 and kept.is_file():
        options.claims = kept

    print(
        write_report(
            [Path(p) for p in options.paths],
            options.out,
            options.where,
            options.group_by,
            options.metric,
            options.include_running,
            tuple(options.formats),
            " ".join(["rnnbench report", *args]),
            options.claims,
        )
    )
    return 0


def study(args: list[str]) -> int:
    """conf/study/NAME.yaml or a study file of one's own on the fair protocol (study/): for each
    part and variant, the tuner's search, then the best configuration on fresh seeds; then the
    report over the folder (with the study file's claims)."""
    from rnnbench.config import group_options
    from rnnbench.study.protocol import run_study

    if not args or args[0].startswith("-"):
        raise UserError(
            f"'rnnbench study' needs a study name or file: rnnbench study NAME|FILE.yaml [study.scale=full] "
            f"[study.seed_offset=K] [OVERRIDES...]; choose from: {', '.join(group_options('study'))}"
        )
    code, folder = run_study(args[0], args[1:], _now())
    report([str(folder)])
    return code


def time_command(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rnnbench time",
        description="Time the training step of the runs under PATH alone (rnnbench/training/timing.py).",
    )
    parser.add_argument("path", type=Path, metavar="PATH", help="a run, sweep or study folder")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the runs, alternating order (default: 3)")
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds of timed steps per run per pass")
    options = parser.parse_args(args)
    if not 1 <= options.rounds <= 100:
        raise UserError(f"--rounds must be between 1 and 100, got {options.rounds}")
    if not 0 < options.min_time <= 60:
        raise UserError(f"--min-time must be in (0, 60] seconds, got {options.min_time}")
    from rnnbench.training.record import AS_BUILT, REFERENCE
    from rnnbench.training.timing import tested_runs, time_runs

    records = time_runs(tested_runs(options.path), options.rounds, options.min_time)
    for run_dir, record in records.items():
        passes = [
            f"{record[p]['tokens_per_s']:,.0f} tok/s ({record[p]['kernel']})"
            for p in (AS_BUILT, REFERENCE)
            if p in record
        ]
        print(f"{run_dir}: {'; '.join(passes)}")
    print(f"rnnbench: {len(records)} runs timed alone; next: rnnbench report {shlex.quote(str(options.path))}")
    return 0


def _positive_ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a comma-separated list of positive integers (e.g. 10,100,1000)"
        )
    return values


def bench(args: list[str]) -> int:
    from rnnbench.commands.bench import DEFAULT, FULL, IMPLS, MIN_TIME

    parser = argparse.ArgumentParser(
        prog="rnnbench bench", description="Time the recurrent cores (rnnbench/commands/bench.py)."
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="the big grid: 14 sequence models, T 10..3000, batch 1/16/64, hidden 64..512",
    )
    parser.add_argument(
        "--models",
        type=lambda t: t.split(","),
        help=f"comma-separated conf/model names (default: {','.join(DEFAULT[0]['models'])})",
    )
    parser.add_argument(
        "--impls", type=lambda t: t.split(","), help=f"some of {','.join(IMPLS)} (default: every one the model has)"
    )
    parser.add_argument("--seq-lens", type=_positive_ints, help="T values (default: 10,100,1000)")
    parser.add_argument("--batch", type=_positive_ints, help="batch sizes (default: 64, and 1 for the scan cells)")
    parser.add_argument("--hidden", type=_positive_ints, help="hidden sizes = input sizes (default: 128)")
    parser.add_argument(
        "--min-time",
        type=float,
        help=f"seconds of timed calls per measurement (default: {MIN_TIME['default']}, --full: {MIN_TIME['full']})",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    parser.add_argument(
        "--out", type=Path, help="folder for bench.csv, bench.json and the plot (default: outputs/bench/<time>)"
    )
    options = parser.parse_args(args)
    min_time = options.min_time if options.min_time is not None else MIN_TIME["full" if options.full else "default"]
    if not 0 < min_time <= 60:
        raise UserError(f"--min-time must be in (0, 60] seconds, got {min_time}")
    if options.threads is not None and not 1 <= options.threads <= 1024:
        raise UserError(f"--threads must be between 1 and 1024, got {options.threads}")
    bad = [i for i in options.impls or [] if i not in IMPLS]
    if bad:
        raise UserError(f"unknown impl {', '.join(bad)}; choose from: {', '.join(IMPLS)}")
    import torch

    from rnnbench.commands.bench import grid, run_bench
    from rnnbench.report.bench import markdown

    if options.device != "cpu" and not (options.device.startswith("cuda") and torch.cuda.is_available()):
        raise UserError(
            f"--device {options.device} is not available here; use cpu"
            + ("" if options.device.startswith("cuda") else " or cuda[:N]")
        )
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    grids = FULL if options.full else DEFAULT
    if options.models or options.seq_lens or options.batch or options.hidden:  # one grid, the rest from the first
        grids = [
            {
                "models": options.models or grids[0]["models"],
                "seq_lens": options.seq_lens or grids[0]["seq_lens"],
                "batches": options.batch or grids[0]["batches"],
                "hiddens": options.hidden or grids[0]["hiddens"],
            }
        ]
    cases = [
        case for g in grids for case in grid(g["models"], g["seq_lens"], g["batches"], g["hiddens"], options.impls)
    ]
    out = options.out or Path(fresh_dir(str(Path("outputs") / "bench" / _now())))
    table, ratio_table, meta = run_bench(
        cases, out, options.device, min_time, progress=lambda line: print(line, file=sys.stderr, flush=True)
    )
    print(markdown(table, ratio_table, meta), end="")
    print(f"\nwritten: {out / 'bench.csv'}, {out / 'bench.json'}, {out / 'throughput_vs_T.png'}", file=sys.stderr)
    return 0


def list_options(args: list[str]) -> int:
    if args:
        raise UserError(f"'rnnbench list' takes no arguments, got: {' '.join(args)}")
    from rnnbench.commands.options import describe_options

    print(describe_options(), end="")
    return 0


def demo(args: list[str]) -> int:
    """conf/experiment/demo.yaml as a sweep into outputs/demo/<time>, then its report."""
    sweep_dir = fresh_dir(str(Path("outputs") / "demo" / _now()))
    code = train(["experiment=demo", f"hydra.sweep.dir={sweep_dir}", *args])
    if code == 0:
        report([str(sweep_dir)])
    return code


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


if __name__ == "__main__":
    sys.exit(main())
