"""The command line as a user runs it, in a temporary folder: the table of bad inputs through
cli.main in this process (the console script's own code path), and a few of them, the start-up
and a train-then-report session in real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from rnnbench.config import group_options
from rnnbench.training.checkpoint import FORMAT as CHECKPOINT_FORMAT
from rnnbench.training.record import FORMAT, flatten
from tests.conftest import TINY, compose_config, run_cli


def test_help_and_list_need_no_heavy_imports(tmp_path):
    out = run_cli("--help", cwd=tmp_path)
    assert out.returncode == 0 and "rnnbench train" in out.stdout
    out = run_cli("list", cwd=tmp_path)
    assert out.returncode == 0
    for name in ("rnn", "lstm", "gru", "adding", "copy", "adam", "seq_len=100", "hidden_size=128"):
        assert name in out.stdout
    assert "+ base/recurrent" in out.stdout and "+ base/chomsky" in out.stdout  # shared bases, model and dataset
    probe = (
        "import sys, rnnbench.cli as c; c.main(['list']); "
        "print(sorted({'torch','pandas','matplotlib'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert result.stdout.strip().endswith("[]"), result.stdout[-200:]


@pytest.mark.slow
def test_train_then_report(tmp_path):
    out = run_cli("train", "model=gru", "dataset=adding", "seed=1", *TINY, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (run_dir,) = (tmp_path / "outputs" / "runs").iterdir()
    assert run_dir.name.endswith("_gru_adding_s1")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["seed"] == 1
    assert {"config.yaml", "metrics.jsonl", "checkpoint.pt", "train.log"} <= {p.name for p in run_dir.iterdir()}
    out = run_cli("report", "outputs", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "| gru " in out.stdout and (tmp_path / "outputs" / "report" / "report.csv").is_file()


def test_multirun_sweep_with_a_failing_job_goes_on(in_process, tmp_path):
    """seq_len=1 is invalid for the adding task: that job is recorded as failed, the rest run,
    and the exit code says something failed."""
    code, _, err = in_process("train", "-m", "model=rnn,lstm", "dataset.seq_len=1,12", *TINY, "hydra.sweep.dir=sweep")
    assert code == 1
    assert "2 of 4 runs failed" in err and "dataset.seq_len must be ≥ 2" in err
    assert "Traceback" not in err
    records = [json.loads(p.read_text()) for p in (tmp_path / "sweep").rglob("summary.json")]
    assert sorted(r["status"] for r in records) == ["completed", "completed", "failed", "failed"]
    assert sorted(r["model"] for r in records) == ["lstm", "lstm", "rnn", "rnn"]  # named even when it failed early
    code, out, _ = in_process("report", "sweep")
    assert code == 0 and "Failed runs:" in out


def test_hydra_flags_keep_working(in_process):
    code, out, _ = in_process("train", "--cfg", "job", "model=lstm", "trainer.lr=0.01")
    assert code == 0 and "lstm" in out and "lr: 0.01" in out
    code, out, _ = in_process("train", "--help")
    assert code == 0 and out.startswith("rnnbench train")
    assert f"model: {', '.join(group_options('model'))}" in out
    assert f"dataset: {', '.join(group_options('dataset'))}" in out


def run_folder(checkpoint):
    """A killed run's folder whose checkpoint.pt is made by `checkpoint(path)`."""

    def make(root):
        run = root / "run"
        (run / ".hydra").mkdir(parents=True)
        (run / ".hydra" / "overrides.yaml").write_text("- trainer.max_steps=2\n")
        (run / "summary.json").write_text('{"format": "rnnbench.run/1", "status": "running"}')
        checkpoint(run / "checkpoint.pt")

    return make


def files(**contents):
    """Files to create in the working folder before the command runs (name → bytes or str)."""

    def make(root):
        for name, content in contents.items():
            path = root / name.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return make


def completed_run(folder: str, **changes):
    """A completed run's summary in `folder`, of the debug=tiny config with `changes`."""

    def make(root):
        hparams = {**flatten(OmegaConf.to_container(compose_config(), resolve=True)), **changes}
        hparams.update({f"dataset.{k}": v for k, v in changes.items() if f"dataset.{k}" in hparams})
        (root / folder).mkdir()
        (root / folder / "summary.json").write_text(
            json.dumps({"format": FORMAT, "status": "completed", "hparams": hparams})
        )

    return make


# Inputs a user can get wrong, beyond the command line: data files, YAML files, checkpoints.
BAD_FILES = [
    (
        files(**{"book.txt": b""}),
        ["train", "dataset=text", "dataset.corpus=book.txt"],
        "dataset.corpus: book.txt is empty",
    ),
    (
        files(**{"book.txt": "été " * 50}),
        ["train", "dataset=text", "dataset.corpus=book.txt"],
        "fewer than seq_len + 1 = 129",
    ),
    (
        files(**{"book.txt": "caf\xe9 ".encode("latin-1") * 50}),
        ["train", "dataset=text", "dataset.corpus=book.txt"],
        "book.txt is not UTF-8 (invalid byte at offset 3); convert it",
    ),
    (
        files(**{"book.bin": bytes(range(256)) * 8}),
        ["train", "dataset=text", "dataset.corpus=book.bin"],
        "book.bin looks binary (it contains NUL bytes)",
    ),
    (files(**{"p.csv": ""}), ["train", "dataset=stock", "dataset.path=p.csv"], "dataset.path: p.csv is empty"),
    (
        files(**{"p.csv": "Date,Open\n2020-01-01,1\n"}),
        ["train", "dataset=stock", "dataset.path=p.csv"],
        "p.csv has no column 'Close'; its columns are Date, Open",
    ),
    (
        files(**{"p.csv": "Date,Close\n2020-01-01,abc\n"}),
        ["train", "dataset=stock", "dataset.path=p.csv"],
        "p.csv row 2: column Close holds 'abc', not a number",
    ),
    (
        files(**{"p.csv": "Date,Close\n2020-01-01,1\n2020-01-02,\n2020-01-03,2\n"}),
        ["train", "dataset=stock", "dataset.path=p.csv", "dataset.missing=error"],
        "missing",
    ),
    (
        files(**{"p.csv": "Date,Close\n2020-01-01,1\n2020-01-02,2\n"}),
        ["train", "dataset=stock", "dataset.path=p.csv"],
        "fewer than the",
    ),
    (
        files(**{"my__experiment__bad.yaml": "trainer: [unclosed\n"}),
        ["train", "--config-dir=my", "experiment=bad"],
        "my/experiment/bad.yaml, line 2, column 1 is not valid YAML (expected ',' or ']'",
    ),
    (
        files(**{"my__experiment__bad.yaml": "# @package _global_\ntrainer:\n  lrr: 0.1\n"}),
        ["train", "--config-dir=my", "experiment=bad"],
        "trainer: TrainerSettings.__init__() got an unexpected keyword argument 'lrr'",
    ),
    (
        run_folder(lambda p: p.write_bytes(b"garbage")),
        ["resume", "run"],
        "run/checkpoint.pt is unreadable (truncated or not a checkpoint",
    ),
    (
        run_folder(lambda p: __import__("torch").save({"format": "rnnbench.checkpoint/7"}, p)),
        ["resume", "run"],
        f"has format 'rnnbench.checkpoint/7', not '{CHECKPOINT_FORMAT}' that this rnnbench resumes from; "
        "upgrade rnnbench",
    ),
    (
        run_folder(
            lambda p: __import__("torch").save(
                {"format": CHECKPOINT_FORMAT, "config": {"model": {"hidden_size": 9}}}, p
            )
        ),
        ["resume", "run"],
        "run/checkpoint.pt was written by another config (",
    ),
    (
        files(**{"a_file": "x"}),
        ["train", "output_root=a_file/out", "trainer.max_steps=1"],
        "cannot write to a_file/out",
    ),
    # issue 23: inputs that were misread, records that were mixed, tracebacks
    (
        files(**{"d.csv": "Date,Close\n" + "".join(f"0{m}/01/2001,{m}\n" for m in range(1, 10))}),
        ["train", "dataset=stock", "dataset.path=d.csv"],
        "column Date reads both as %d/%m/%Y and as %m/%d/%Y",
    ),
    (
        files(**{"d.csv": "Date,Close\n" + "".join(f"{d},{d + 1}\n" for d in range(50))}),
        ["train", "dataset=stock", "dataset.path=d.csv"],
        "column Date holds numbers (0…), not dates",
    ),
    (
        files(**{"d.csv": "Date,Close\n" + "".join(f"{2001 + d // 12}-{d % 12 + 1:02d}-01,7\n" for d in range(200))}),
        ["train", "dataset=stock", "dataset.path=d.csv", "dataset.seq_len=4"],
        "Close does not change over the training part (7 throughout)",
    ),
    (
        files(**{"d.csv": "Date,Close\n2001-01-01,1\n2001-01-02,inf\n"}),
        ["train", "dataset=stock", "dataset.path=d.csv"],
        "d.csv row 3: column Close holds inf, an infinite value",
    ),
    (
        files(**{"d.csv": "Date,Symbol,Close\n2001-01-01,A,1\n2001-01-01,B,2\n"}),
        ["train", "dataset=stock", "dataset.path=d.csv"],
        "row 3: '2001-01-01' is a date seen before (1 such rows)",
    ),
    (
        files(**{"corpus__a.txt": "text"}),
        ["train", "dataset=text", "dataset.corpus=corpus"],
        "dataset.corpus: corpus is a folder; give the path of a file in it",
    ),
    (
        files(
            **{
                "a_file": "x",
                "r__summary.json": json.dumps(
                    {
                        "format": "rnnbench.run/2",
                        "status": "completed",
                        "reason": None,
                        "model": "gru",
                        "dataset": "adding",
                        "seed": 0,
                        "params": 1,
                        "tokens_per_s": 1.0,
                        "wall_s": 1.0,
                        "final": {"mse": 0.1},
                        "best": {"mse": 0.1},
                        "baseline": {"mse": 0.2},
                        "task": {"primary_metric": "mse", "metrics": {"mse": "min"}},
                    }
                ),
            }
        ),
        ["report", "r", "--out", "a_file"],
        "cannot write to a_file: file exists; choose a writable folder with --out DIR",
    ),
    (
        files(**{"run__.hydra__overrides.yaml": "model: gru\n"}),
        ["resume", "run"],
        "run/.hydra/overrides.yaml is not a list of overrides",
    ),
    (
        files(**{"run__.hydra__overrides.yaml": "- model=gru\n- [unclosed\n"}),
        ["resume", "run"],
        "run/.hydra/overrides.yaml is not a list of overrides",
    ),
    (
        completed_run("run", seed=5),
        ["train", "debug=tiny", "hydra.run.dir=run"],
        "run holds a completed run of another config (dataset.seed: 5 → 0, seed: 5 → 0); train into a new run folder",
    ),
    (
        files(**{"s__multirun.yaml": "hydra:\n  overrides:\n    task: [debug=tiny, model=rnn]\n"}),
        ["train", "-m", "debug=tiny", "model=gru", "hydra.sweep.dir=s"],
        "s holds a sweep of other overrides (model: 'rnn' → 'gru'); sweep into a new folder",
    ),
]


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (None, *case)
        for case in [
            (
                ["train", "model=transformerz"],
                f"unknown model 'transformerz'; choose from: {', '.join(group_options('model'))}",
            ),
            (
                ["train", "dataset=mnist9"],
                f"unknown dataset 'mnist9'; choose from: {', '.join(group_options('dataset'))}",
            ),
            (["train", "dataset.seq_len=0"], "dataset.seq_len must be an integer in [1, 100000], got 0"),
            (["train", "dataset.seq_len=abc"], "dataset.seq_len must be an integer in [1, 100000], got 'abc'"),
            (["train", "trainer.lr=0"], "trainer.lr must be a number in (0.0, 1000.0], got 0"),
            (["train", "trainer.batch_size=0"], "trainer.batch_size must be an integer ≥ 1, got 0"),
            (
                [
                    "train",
                    "model=lstm",
                    "dataset.seq_len=20000",
                    "dataset.n_train=1000",
                    "dataset.n_val=8",
                    "dataset.n_test=8",
                    "model.hidden_size=256",
                    "trainer.batch_size=1000",
                ],
                "dataset.seq_len=20000 with trainer.batch_size=1000 needs about 314.9 GiB for one training step",
            ),
            (["train", "trainer.lrr=0.1"], "trainer.lrr is not a key of this config; did you mean trainer.lr?"),
            (["train", "dataset.n_test=18446744073709551616"], "dataset.n_test must be an integer in [1, 10000000]"),
            (["train", "dataset.n_train=5000000", "dataset.seq_len=1000"], "more than a split may hold"),
            (
                ["train", "model.hiden_size=8"],
                "model.hiden_size is not a key of this config; did you mean model.hidden",
            ),
            (["train", "trainer.learning_rate=0.01"], "did you mean trainer.lr? trainer has: batch_size, checkpoint"),
            (["train", "trainer.epochs=3"], "did you mean trainer.max_steps?"),
            (["train", "model=lstm", "model.cell.nonlin=relu"], "model.cell takes no keys here"),
            (["train", "--model", "gru"], "unrecognized arguments: --model; rnnbench train takes Hydra overrides"),
            (
                ["train", "dataset=stock", "dataset.filter=Symbol=AAPL"],
                "dataset.filter=Symbol=AAPL: a value with '=' in it is quoted for Hydra, and the quotes for the shell: "
                "\"dataset.filter='Symbol=AAPL'\"",
            ),
            (["train", "model=gru", "-m", "seed=0,1"], "put -m before the overrides"),
            (
                ["train", "-m", "seed=0,1", "--cfg", "job"],
                "Only one of --run, --multirun, --cfg, --info and --shell_completion "
                "can be specified (--cfg job shows the config of a single run: drop -m)",
            ),
            (
                ["study"],
                "'rnnbench study' needs a study name or file: rnnbench study NAME|FILE.yaml [study.scale=full] "
                "[study.seed_offset=K] [OVERRIDES...]; choose from: chomsky, claims, counting, mqar",
            ),
            (
                ["study", "claimz"],
                "unknown study 'claimz'; choose from: chomsky, claims, counting, mqar, recurrences, tcn_table1, "
                "or a study file (PATH.yaml)",
            ),
            (["study", "no/such/study.yaml"], "cannot read the study file no/such/study.yaml: [Errno 2]"),
            (["study", "claims", "study.scale=huge"], "study.scale must be one of quick, full, got 'huge'"),
            (
                ["study", "claims", "study.seed_offset=-2"],
                "study.seed_offset must be an integer in [0, 9999], got '-2'",
            ),
            (
                ["study", "claims", "seed=0,1"],
                "seed=0,1: a study chooses its seeds (a tuning seed, then fresh ones); use study.seed_offset=K",
            ),
            (["train", "model.param_budget=-5"], "model.param_budget must be an integer ≥ 1, got -5"),
            (
                ["train", "model=lstm", "model.param_budget=10"],
                "model.param_budget=10 is below the smallest model=lstm for this "
                "task (22 parameters at hidden_size=1); give at least 22",
            ),
            (["train", "trainer.patience=0"], "trainer.patience must be an integer ≥ 1, got 0"),
            (
                ["train", "-m", "hydra/sweeper=tune", "trainer.lr=0.1,0.2", "hydra.sweeper.pruner=asha"],
                "hydra.sweeper.pruner must be one of none, median, successive_halving, hyperband, got 'asha'",
            ),
            (["report", "nowhere", "--where", "x"], "report path 'nowhere' does not exist"),
            (
                ["train", "model.cell._target_=nowhere.Cell"],
                "model.cell._target_ 'nowhere.Cell' cannot be imported (No module named 'nowhere')",
            ),
            (
                ["train", "dataset=text", "dataset.corpus=no/book.txt"],
                "dataset.corpus: no file at no/book.txt (relative to",
            ),
            (
                ["train", "dataset=text", "dataset.corpus=shakespear"],
                "dataset.corpus must be one of tinyshakespeare, ptb_char",
            ),
            (["train", "dataset=text", "dataset.corpus=ptb_word", "data_dir=d"], "place the file at d/ptb.train.txt"),
            (["train", "dataset=stock", "dataset.path=prices.csv"], "dataset.path: no file at prices.csv"),
            (["resume"], "'rnnbench resume' needs the run folder: rnnbench resume RUN_DIR [OVERRIDES...]"),
            (["resume", "nowhere"], "nowhere is not an rnnbench run folder (no .hydra/overrides.yaml); resume with"),
            (
                ["train", "model=gru", "dataset=moving_shapes"],
                "model=gru cannot run dataset=moving_shapes, which needs a model "
                "for video frames → the next frames (convolutional encoder-forecaster); "
                "choose one of: convgru, convlstm",
            ),
            (
                ["train", "model=seq2seq", "dataset=adding"],
                "model=seq2seq cannot run dataset=adding, which needs a model for a "
                "sequence → one output or an output per step; choose one of: deltanet, gated_deltanet, gla, gru,",
            ),
            (
                ["train", "model=seq2seq", "model/cell=lstmm", "dataset=reverse"],
                "unknown model/cell 'lstmm'; choose from: gru, lstm, rnn",
            ),
            (
                ["train", "model=seq2seq", "dataset=text_correction", "dataset.rate=0.9"],
                "dataset.rate must be a number in [0.0, 0.5], got 0.9",
            ),
            (["train", "model=seq2seq", "dataset=reverse", "model.attention=dot"], "model.attention must be one of"),
            (
                ["train", "model=convlstm", "dataset=moving_shapes", "model.cell.kernel_size=4"],
                "model.cell.kernel_size must be odd (the state keeps its height and width), got 4",
            ),
            (
                ["train", "model=convgru", "dataset=moving_shapes", "dataset.max_size=40"],
                "dataset.max_size must be an integer in [7, 31], got 40",
            ),
            (
                ["train", "dataset=stock", "dataset.target=Open"],
                "dataset.target must be one of dataset.columns ['Close']",
            ),
            (
                ["train", "dataset=stock", "dataset.predict=tomorrow"],
                "dataset.predict must be one of price, log_return, direction",
            ),
            (["train", "dataset=stock", "dataset.seq_len=2000"], "fewer than the 2002 one window needs"),
            (["train", "dataset=mqar", "dataset.n_pairs=30"], "dataset.n_pairs must be at most seq_len / 3 (21)"),
            (["train", "dataset=anbn", "dataset.test_max_n=10"], "dataset.test_max_n must be at least max_n (50)"),
            (
                ["train", "dataset=seq_mnist", "data_dir=d"],
                "place the file at d/train-images-idx3-ubyte.gz (sha256 440fcabf",
            ),
            (["report", "no/such/dir"], "report path 'no/such/dir' does not exist"),
            (["report", "."], "no run records (summary.json) or bench results (bench.csv) under ."),
            (
                ["fly"],
                "unknown command 'fly'; choose from: train, resume, eval, sample, status, report, study, bench, time, "
                "list, demo",
            ),
            (["list", "extra"], "'rnnbench list' takes no arguments"),
            (
                ["train", "seed=18446744073709551616"],
                "seed must be an integer in [0, 9223372036854775807], got 18446744073709551616",
            ),
            (
                ["train", "debug=tiny", "dataset.name=adding/T20"],
                "dataset.name must be a name of letters, digits and _ . + -",
            ),
            (["train", "debug=tiny", "model.hidden_size=1000000"], "model: its weights do not fit in memory"),
        ]
    ]
    + BAD_FILES,
)
def test_bad_input_gives_one_clear_line(in_process, tmp_path, monkeypatch, setup, args, message):
    """Every bad input is answered by one line naming the problem, a non-zero exit, no traceback.
    The machine is given 24 GiB, whatever this one has free, so a step too big is one everywhere."""
    monkeypatch.setattr("rnnbench.training.memory.available_bytes", lambda device: 24 * 2**30)
    if setup:
        setup(tmp_path)
    code, _, err = in_process(*args)
    assert code == 2
    assert_one_line(err, message)


def assert_one_line(err: str, message: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rnnbench: error: ") and message in lines[0], lines[0]


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (None, ["train", "model=transformerz"], "unknown model 'transformerz'; choose from: "),  # composing
        (None, ["train", "trainer.lr=0"], "trainer.lr must be a number in (0.0, 1000.0], got 0"),  # building
        (
            files(**{"p.csv": "Date,Close\n2020-01-01,abc\n"}),
            ["train", "dataset=stock", "dataset.path=p.csv"],
            "p.csv row 2: column Close holds 'abc', not a number",
        ),  # reading a file
    ],
)
def test_bad_input_in_a_real_process(tmp_path, setup, args, message):
    """The same answers from the console script's module in its own process: one line on stderr,
    exit code 2."""
    if setup:
        setup(tmp_path)
    out = run_cli(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert_one_line(out.stderr, message)


def test_a_run_and_a_sweep_end_by_saying_where_their_records_are(in_process):
    code, _, err = in_process("train", *TINY, "hydra.run.dir=one")
    assert (
        code == 0 and err.strip().splitlines()[-1] == "rnnbench: 1 run in one (1 completed); next: rnnbench report one"
    )
    code, _, err = in_process("train", "-m", *TINY, "seed=0,1", "model.hidden_size=8,0", "hydra.sweep.dir=sw")
    assert code == 1
    assert err.strip().splitlines()[-1] == "rnnbench: 4 runs in sw (2 completed, 2 failed); next: rnnbench report sw"
