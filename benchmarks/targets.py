"""Measure rnnbench's speed targets as ratios taken in one run, and rewrite the results part of
benchmarks/README.md (between its `results` markers; the analysis around them is kept).

    python benchmarks/targets.py              # every target; the page says how long it took
    python benchmarks/targets.py --compile    # also torch.compile of a reference cell (+3–5 min)
    python benchmarks/targets.py --only startup,report   # some targets; README left alone

Targets (issue 8):
 1 trainer      `rnnbench train` steps/s ≥ 0.95× a bare hand-written loop (same model, data, batches,
                Adam, clipping); both in this process, alternately, 5 times each, on two workloads
 2 fused        the runner's fused RNN/LSTM/GRU ≥ 0.9× raw torch.nn (rnnbench bench, default grid)
 3 reference    the readable cells' ratio to fused (reported; --compile adds torch.compile)
 4 scan         minGRU/minLSTM scan ≥ 5× their own sequential loop at T = 1000, training step
 5 data         time fetching batches < 5% of training-step time, every task at its defaults
 6 startup      `rnnbench --help` and `rnnbench list` < 1.5 s (median of 5 processes)
 7 report       `rnnbench report` over 1,000 run records < 10 s
 8 sweep        a 4-job sweep with hydra/launcher=joblib (2 jobs) ≥ 1.7× faster than sequential,
                for a workload whose kernels use both cores and for a small one
Nothing else should run on the machine meanwhile: the ratios assume both sides saw the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnbench.config import compose

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "benchmarks" / "README.md"
START, END = "<!-- results:start (written by benchmarks/targets.py) -->", "<!-- results:end -->"
RNNBENCH = str(Path(sys.executable).parent / "rnnbench")


def quiet(cfg):
    return [*cfg, "trainer.progress=false", "trainer.checkpoint=false", "trainer.device=cpu"]


# --- 1: trainer overhead ------------------------------------------------------------------------


def bare_loop(cfg, steps: int) -> float:
    """Seconds for `steps` training steps written by hand: the same task, model, seed, batches,
    optimizer and clipping as the trainer, nothing else."""
    from rnnbench.config import instantiate
    from rnnbench.training.build import build_model, build_task
    from rnnbench.training.trainer import batch_order

    task = build_task(cfg)
    train = task.splits()["train"]
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, task)
    optimizer = instantiate("optimizer", cfg.optimizer)(model.parameters())
    order = batch_order(task, len(train), cfg.trainer.batch_size, cfg.seed)
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        index, _ = next(order)
        x, y = train.x[index], train.y[index]
        pred, _ = model(x)
        loss = task.loss(pred, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.grad_clip)
        optimizer.step()
    return time.perf_counter() - start


TRAINER_WORKLOADS = {
    "gru H=128 T=100 (defaults)": ["model=gru", "dataset=adding"],
    "gru H=32 T=50": ["model=gru", "dataset=adding", "model.hidden_size=32", "dataset.seq_len=50"],
}


def trainer_overhead(work: Path, steps: int = 200, repeats: int = 5) -> list[dict]:
    """The trainer's steps/s (steps over the record's train_s) against the bare loop's, run
    alternately; on the defaults and on a small model, where a per-step overhead would show most."""
    from rnnbench.training.trainer import train

    rows = []
    for workload, overrides in TRAINER_WORKLOADS.items():
        cfg = compose(*quiet([*overrides, f"trainer.max_steps={steps}", f"trainer.eval_every={steps}"]))
        runner, bare = [], []
        for r in range(repeats):
            summary = train(cfg, work / f"trainer_{len(rows)}_{r}")
            runner.append(steps / summary["train_s"])
            bare.append(steps / bare_loop(cfg, steps))
        ratio = statistics.median(runner) / statistics.median(bare)
        rows.append(
            {
                "target": f"1 trainer steps/s vs a bare loop: {workload}",
                "goal": "≥ 0.95×",
                "ratio": ratio,
                "met": ratio >= 0.95,
                "detail": f"batch {cfg.trainer.batch_size}, {steps} steps, median of {repeats} alternate runs: "
                f"trainer {statistics.median(runner):.1f} steps/s (record's train_s), "
                f"bare loop {statistics.median(bare):.1f} steps/s",
            }
        )
    return rows


# --- 2, 3, 4: the microbenchmark ----------------------------------------------------------------


def microbench(work: Path, with_compile: bool) -> tuple[list[dict], str]:
    from rnnbench.commands.bench import DEFAULT, MIN_TIME, grid, markdown, run_bench

    cases = [c for g in DEFAULT for c in grid(g["models"], g["seq_lens"], g["batches"], g["hiddens"])]
    table, ratios, meta = run_bench(cases, work / "bench", "cpu", MIN_TIME["default"])
    rows = []
    fused = ratios[ratios.ratio == "fused / raw torch.nn"]
    rows.append(
        {
            "target": "2 fused vs raw torch.nn (train step)",
            "goal": "≥ 0.9×",
            "ratio": fused.train.min(),
            "met": bool((fused.train >= 0.9).all()),
            "detail": "min over rnn/lstm/gru × T 10/100/1000 (B 64, H 128); "
            + ", ".join(f"{r.model} T={r.T} {r.train:.2f}×" for r in fused.itertuples()),
        }
    )
    reference = ratios[ratios.ratio == "reference / fused"]
    rows.append(
        {
            "target": "3 reference cells vs fused (train step)",
            "goal": "reported",
            "ratio": reference.train.median(),
            "met": None,
            "detail": ", ".join(f"{r.model} T={r.T} {r.train:.2f}×" for r in reference.itertuples()),
        }
    )
    scan = ratios[(ratios.ratio == "scan / own loop") & (ratios["T"] == 1000)]
    rows.append(
        {
            "target": "4 minGRU/minLSTM scan vs own loop, T=1000",
            "goal": "≥ 5×",
            "ratio": scan.train.max(),
            "met": bool((scan.train >= 5).any()),
            "detail": ", ".join(f"{r.model} B={r.batch} {r.train:.2f}×" for r in scan.itertuples())
            + " (met where any batch size reaches it; see the crossover below)",
        }
    )
    if with_compile:
        rows.append(compile_reference(work))
    return rows, markdown(table, ratios, meta)


def compile_reference(work: Path, model: str = "lstm", seq_len: int = 100) -> dict:
    """torch.compile of the reference cell's loop: cold compile time (an empty inductor cache),
    then its train-step time against eager and fused, interleaved."""
    from rnnbench.commands.bench import block_times, build_core, train_step

    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(work / "inductor-cache")  # cold: nothing compiled before

    x = torch.randn(64, seq_len, 128)
    torch.manual_seed(0)
    eager, fused = build_core(model, "reference", 128), build_core(model, "fused", 128)
    start = time.perf_counter()
    compiled = torch.compile(build_core(model, "reference", 128))
    train_step(compiled, x)
    compile_s = time.perf_counter() - start
    times = {"eager": [], "compiled": [], "fused": []}
    for _ in range(2):
        for name, core in (("eager", eager), ("compiled", compiled), ("fused", fused)):
            train_step(core, x)
            times[name] += block_times(lambda core=core: train_step(core, x), 0.5)
    median = {k: statistics.median(v) for k, v in times.items()}
    return {
        "target": "3 torch.compile of the reference cell",
        "goal": "reported",
        "ratio": median["eager"] / median["compiled"],
        "met": None,
        "detail": f"{model}, T={seq_len}, B 64, H 128: cold compile {compile_s:.0f} s; train step "
        f"eager {median['eager'] * 1e3:.1f} ms, compiled {median['compiled'] * 1e3:.1f} ms, "
        f"fused {median['fused'] * 1e3:.1f} ms (ratio = eager / compiled)",
    }


# --- 5: data time -------------------------------------------------------------------------------


def model_for(dataset: str) -> str:
    """A default model that can run the dataset: gru, seq2seq (transduction) or convgru (video)."""
    from hydra.utils import get_class

    task = get_class(compose(f"dataset={dataset}").dataset._target_)
    return {"sequence": "gru", "transduction": "seq2seq", "frames": "convgru"}[task.kind]


def data_time(work: Path, steps: int = 40) -> tuple[dict, list[dict]]:
    from rnnbench.config import group_options
    from rnnbench.errors import UserError
    from rnnbench.training.trainer import train

    rows = []
    for dataset in group_options("dataset"):
        model = model_for(dataset)
        overrides = quiet(
            [
                f"model={model}",
                f"dataset={dataset}",
                f"trainer.max_steps={steps}",
                f"trainer.eval_every={steps}",
                "trainer.eval_batch_size=256",
            ]
        )
        note = ""
        start = time.perf_counter()
        try:
            summary = train(compose(*overrides), work / f"data_{dataset}")
        except UserError:  # MNIST, offline: the same pipeline on the bundled digits, at MNIST's T
            note = "MNIST not downloaded (offline): dataset.source=digits, 20,000 images, same T and pipeline"
            start = time.perf_counter()
            summary = train(
                compose(
                    *overrides,
                    "dataset.source=digits",
                    "dataset.n_train=20000",
                    "dataset.n_val=1000",
                    "dataset.n_test=1000",
                ),
                work / f"data_{dataset}_digits",
            )
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "T": summary["task"].get("seq_len"),
                "data ms/step": 1e3 * summary["data_s"] / steps,
                "step ms": 1e3 * summary["train_s"] / steps,
                "data %": 100 * summary["data_s"] / summary["train_s"],
                "set-up s": time.perf_counter() - start - summary["train_s"] - summary["eval_s"],
                "note": note,
            }
        )
    worst = max(rows, key=lambda r: r["data %"])
    return (
        {
            "target": "5 data time / step time, every task",
            "goal": "< 5%",
            "ratio": worst["data %"] / 100,
            "met": worst["data %"] < 5,
            "detail": f"worst of {len(rows)} tasks: {worst['dataset']} {worst['data %']:.2f}% (table below)",
        },
        rows,
    )


# --- 6: start-up --------------------------------------------------------------------------------


def startup(repeats: int = 5) -> list[dict]:
    rows = []
    for args in (["--help"], ["list"]):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([RNNBENCH, *args], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        rows.append(
            {
                "target": f"6 rnnbench {' '.join(args)} start-up",
                "goal": "< 1.5 s",
                "ratio": median / 1.5,
                "met": median < 1.5,
                "detail": f"median {median:.2f} s of {repeats} processes (ratio = time / 1.5 s)",
            }
        )
    return rows


# --- 7: report over 1,000 records ---------------------------------------------------------------


def fabricate_records(work: Path, n: int = 1000) -> Path:
    """n run folders cloned from two real tiny runs (adding and copy), with model, seed and T
    varied as a sweep would: 2 datasets × 5 models × 4 lengths × 25 seeds."""
    from rnnbench.training.trainer import train

    tiny = [
        "dataset.seq_len=12",
        "dataset.n_train=128",
        "dataset.n_val=32",
        "dataset.n_test=32",
        "model.hidden_size=8",
        "trainer.max_steps=20",
        "trainer.eval_every=2",
        "trainer.batch_size=16",
    ]
    root = work / "records"
    models, lengths = ["rnn", "lstm", "gru", "mingru", "hybrid_stacked"], [50, 100, 200, 400]
    seeds = n // (2 * len(models) * len(lengths))
    for dataset in ("adding", "copy"):
        source = work / f"source_{dataset}"
        train(compose(*quiet([f"dataset={dataset}", *tiny])), source)
        summary = json.loads((source / "summary.json").read_text())
        i = 0
        for model in models:
            for length in lengths:
                for seed in range(seeds):
                    run = root / dataset / f"{i}_{model}_s{seed}"
                    run.mkdir(parents=True)
                    shutil.copy(source / "metrics.jsonl", run)
                    shutil.copy(source / "config.yaml", run)
                    jitter = 1 + 0.01 * ((seed * 7919 + i) % 13)
                    hparams = {**summary["hparams"], "model.name": model, "dataset.seq_len": length, "seed": seed}
                    record = {
                        **summary,
                        "model": model,
                        "seed": seed,
                        "hparams": hparams,
                        "final": {k: v * jitter for k, v in summary["final"].items()},
                        "tokens_per_s": summary["tokens_per_s"] * jitter,
                    }
                    (run / "summary.json").write_text(json.dumps(record))
                    i += 1
    return root


def report_speed(work: Path) -> dict:
    root = fabricate_records(work)
    count = sum(1 for _ in root.rglob("summary.json"))
    start = time.perf_counter()
    subprocess.run([RNNBENCH, "report", str(root), "--out", str(work / "report")], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    return {
        "target": f"7 report over {count:,} records",
        "goal": "< 10 s",
        "ratio": seconds / 10,
        "met": seconds < 10,
        "detail": f"{seconds:.1f} s for the whole command (tables, claims, 8 plots, HTML); ratio = time / 10 s",
    }


# --- 8: parallel sweep --------------------------------------------------------------------------

SWEEP_WORKLOADS = {
    "gru H=128 T=100 (defaults)": (["model=gru", "dataset=adding"], 300),
    "gru H=32 T=50": (["model=gru", "dataset=adding", "model.hidden_size=32", "dataset.seq_len=50"], 1000),
}


def sweep_speed(work: Path, repeats: int = 2) -> list[dict]:
    """The same 4-job sweep (seeds 0–3) sequentially (each job all cores) and with joblib (2 jobs
    side by side, one thread each), for a workload whose kernels use both cores and one too small
    to: joblib can only win what a second thread did not already win inside one job."""
    rows = []
    for workload, (overrides, steps) in SWEEP_WORKLOADS.items():
        common = [
            "train",
            "-m",
            *overrides,
            "seed=0,1,2,3",
            f"trainer.max_steps={steps}",
            "trainer.eval_every=100",
            "trainer.progress=false",
            "trainer.checkpoint=false",
            f"output_root={work}",
        ]
        seconds, step_ms = {"sequential": [], "joblib": []}, {"sequential": [], "joblib": []}
        for repeat in range(repeats):  # alternately, so that a slow spell of the machine hits both
            for name, extra in (("sequential", []), ("joblib", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])):
                folder = work / f"{name}_{len(rows)}_{repeat}"
                start = time.perf_counter()
                subprocess.run(
                    [RNNBENCH, *common, *extra, f"hydra.sweep.dir={folder}"], check=True, capture_output=True
                )
                seconds[name].append(time.perf_counter() - start)
                step_ms[name] += [
                    1e3 * r["train_s"] / r["steps"]
                    for r in map(json.loads, map(Path.read_text, folder.rglob("summary.json")))
                ]
        sequential, parallel = statistics.median(seconds["sequential"]), statistics.median(seconds["joblib"])
        ratio = sequential / parallel
        rows.append(
            {
                "target": f"8 4-job sweep, joblib vs sequential: {workload}",
                "goal": "≥ 1.7×",
                "ratio": ratio,
                "met": ratio >= 1.7,
                "detail": f"{steps} steps per job, median of {repeats}: sequential {sequential:.0f} s "
                f"({statistics.median(step_ms['sequential']):.1f} ms/step on {torch.get_num_threads()} threads), "
                f"joblib {parallel:.0f} s ({statistics.median(step_ms['joblib']):.1f} ms/step on 1 thread, "
                "beside the other job)",
            }
        )
    return rows


# --- the page -----------------------------------------------------------------------------------


def results_markdown(rows: list[dict], bench_md: str | None, data_rows: list[dict] | None, seconds: float) -> str:
    import pandas as pd

    from rnnbench.commands.bench import machine

    info = machine("cpu", float("nan"))
    head = (
        f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores, {info['threads']} torch threads), "
        f"torch {info['torch']}, Python {info['python']}; {seconds / 60:.1f} min for the whole script.\n"
    )
    targets = pd.DataFrame(
        [{**r, "ratio": f"{r['ratio']:.2f}", "met": {True: "yes", False: "**no**", None: "—"}[r["met"]]} for r in rows]
    )[["target", "goal", "ratio", "met", "detail"]]
    parts = [head, "### Targets\n", targets.to_markdown(index=False), ""]
    if bench_md:
        parts += ["### Microbenchmark (`rnnbench bench`, default grid)\n", bench_md]
    if data_rows:
        frame = pd.DataFrame(data_rows)
        parts += ["### Data time per task (defaults, 40 steps)\n", frame.to_markdown(index=False, floatfmt=".2f"), ""]
    return "\n".join(parts)


def write_readme(text: str) -> None:
    page = README.read_text(encoding="utf-8")
    if START not in page or END not in page:
        raise SystemExit(f"{README} has no results markers ({START} … {END})")
    before, rest = page.split(START, 1)
    after = rest.split(END, 1)[1]
    README.write_text(f"{before}{START}\n{text}\n{END}{after}", encoding="utf-8")


def main() -> None:
    names = ["trainer", "bench", "data", "startup", "report", "sweep"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of a reference cell")
    parser.add_argument("--only", type=lambda t: t.split(","), help=f"some of: {','.join(names)} (README unchanged)")
    options = parser.parse_args()
    chosen = options.only or names
    os.environ.setdefault("RNNBENCH_OFFLINE", "1")  # a dataset that needs a download is reported, not fetched
    import logging

    logging.getLogger("rnnbench").setLevel(logging.WARNING)
    start = time.perf_counter()
    rows, bench_md, data_rows = [], None, None
    with tempfile.TemporaryDirectory(prefix="rnnbench-targets-") as tmp:
        work = Path(tmp)
        for name in chosen:
            print(f"[{time.perf_counter() - start:5.0f} s] {name}", file=sys.stderr, flush=True)
            if name == "trainer":
                rows += trainer_overhead(work)
            elif name == "bench":
                bench_rows, bench_md = microbench(work, options.compile)
                rows += bench_rows
            elif name == "data":
                data_row, data_rows = data_time(work)
                rows.append(data_row)
            elif name == "startup":
                rows += startup()
            elif name == "report":
                rows.append(report_speed(work))
            elif name == "sweep":
                rows += sweep_speed(work)
            else:
                raise SystemExit(f"unknown target group {name}; choose from: {', '.join(names)}")
    text = results_markdown(rows, bench_md, data_rows, time.perf_counter() - start)
    print(text)
    if options.only is None:
        write_readme(text)
        print(f"written: {README}", file=sys.stderr)


if __name__ == "__main__":
    main()
