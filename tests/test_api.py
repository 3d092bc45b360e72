"""rnnbench from Python (api.py), `rnnbench eval` (commands/evaluate.py) and `rnnbench sample`: the
README's example runs; a run
made through the API is the CLI's run; eval at another length writes its record, refuses to change
the model, and the report shows it."""

from __future__ import annotations

import json

import pytest

import rnnbench
from rnnbench import cli
from rnnbench.errors import UserError
from tests.conftest import TINY
from tests.test_readme import readme_block


def test_the_readme_example_runs(in_process, tmp_path):
    """The README's block, made tiny (debug=tiny before its own overrides, 12 steps)."""
    block = readme_block("import rnnbench\n").replace("overrides=[", 'overrides=["debug=tiny", ')
    block = block.replace('"trainer.max_steps=300"', '"trainer.max_steps=12"')
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    summary, runs = namespace["summary"], namespace["runs"]
    assert summary["status"] == "completed" and summary["dir"].endswith("outputs/runs/gru_T50")
    assert list(runs["model"]) == ["gru"] and runs["final.mse"].iloc[0] == summary["final"]["mse"]
    assert (tmp_path / "outputs" / "runs" / "gru_T50" / ".hydra" / "overrides.yaml").is_file()  # the CLI's record


def test_a_run_from_python_is_the_cli_run(in_process, tmp_path):
    """Same config, same record: the CLI on the API's folder finds its completed run."""
    summary = rnnbench.run("rnn", "adding", [*TINY, "seed=3"], run_dir=tmp_path / "r")
    before = (tmp_path / "r" / "summary.json").read_bytes()
    assert cli.main(["train", "model=rnn", "dataset=adding", *TINY, "seed=3", f"hydra.run.dir={tmp_path / 'r'}"]) == 0
    assert (tmp_path / "r" / "summary.json").read_bytes() == before and summary["seed"] == 3
    with pytest.raises(UserError, match="trainer.lr must be a number"):
        rnnbench.run("rnn", "adding", [*TINY, "trainer.lr=-1"], run_dir=tmp_path / "bad")
    with pytest.raises(UserError, match="trains one run"):
        rnnbench.run("rnn", "adding", ["-m", "seed=0,1"])
    with pytest.raises(UserError, match="a list of strings"):
        rnnbench.run("rnn", "adding", "seed=1")


def test_build_gives_the_model_and_task_a_run_trains():
    model, task = rnnbench.build("lstm", "copy", TINY)
    x = task.splits()["train"].x[:4]
    prediction, _ = model(x)
    assert prediction.shape[0] == 4 and task.name == "copy"
    with pytest.raises(AttributeError):
        rnnbench.nope  # noqa: B018


@pytest.fixture
def trained(in_process, tmp_path):
    run_dir = tmp_path / "gru"
    rnnbench.run("gru", "adding", [*TINY, "dataset.seq_len=10"], run_dir=run_dir)
    return run_dir


def test_curves_and_a_trained_model_load_from_the_records(trained, in_process, tmp_path):
    import torch

    curves = rnnbench.load_curves(tmp_path)
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert list(curves.columns[:5]) == ["dir", "model", "dataset", "seed", "step"]
    assert list(curves["step"]) == [r["step"] for r in rows] and list(curves["val_mse"]) == [r["val_mse"] for r in rows]
    assert set(curves["model"]) == {"gru"}
    model, task = rnnbench.load_model(trained)
    test = task.splits()["test"]
    with torch.no_grad():
        score = task.score(model(test.x)[0], test.y)
    summary = json.loads((trained / "summary.json").read_text())
    assert not model.training and score["mse"] == pytest.approx(summary["final"]["mse"], rel=1e-6)
    _, longer = rnnbench.load_model(trained, overrides=["dataset.seq_len=30"])
    assert longer.seq_len == 30
    with pytest.raises(UserError, match="has no best.pt: its best weights are kept with trainer.keep_best=true"):
        rnnbench.load_model(trained, best=True)
    kept = tmp_path / "kept"
    rnnbench.run("gru", "adding", [*TINY, "dataset.seq_len=10", "trainer.keep_best=true"], run_dir=kept)
    best, _ = rnnbench.load_model(kept, best=True)
    stored = torch.load(kept / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(best.state_dict()[k], v) for k, v in stored.items())


def test_eval_at_a_longer_length_writes_its_record_and_the_report_shows_it(trained, capsys):
    assert cli.main(["eval", str(trained), "dataset.seq_len=30"]) == 0
    out = capsys.readouterr().out
    assert "dataset.seq_len: 10 → 30" in out and "baseline predict 1.0" in out
    record = json.loads((trained / "eval" / "dataset.seq_len=30.json").read_text())
    assert record["changed"] == {"dataset.seq_len": 30} and record["trained"] == {"dataset.seq_len": 10}
    assert record["seq_len"] == 30 and set(record["metrics"]) == {"mse"} and record["baseline"]["mse"] > 0
    summary = json.loads((trained / "summary.json").read_text())
    assert record["baseline"] != summary["baseline"]  # the baseline of the new data, not the run's
    runs = rnnbench.load_runs(trained)
    assert runs["at_T.30.mse"].iloc[0] == record["metrics"]["mse"]
    assert cli.main(["report", str(trained)]) == 0
    report = capsys.readouterr().out
    assert "test mse at T′=30" in report and "baseline mse at T′=30" in report
    assert (trained / "report" / "eval_lengths_adding.png").is_file()


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.hidden_size=64", "model.hidden_size=64 would change more than the data"),
        ("dataset=copy", "dataset=copy would change more than the data"),
        ("dataset.nope=1", "dataset.nope: not a key of this run's dataset config"),
        ("dataset.seq_len=interval(1,2)", "eval takes key=value overrides, a value or a list of them"),
        ("dataset._target_=os.system", "eval changes the data's settings, not what builds it"),
    ],
)
def test_eval_refuses_what_is_not_new_data(trained, capsys, override, message):
    assert cli.main(["eval", str(trained), override]) == 2
    assert message in capsys.readouterr().err
    assert not (trained / "eval").exists()


def test_eval_of_a_folder_scores_each_completed_run_at_each_listed_value(trained, in_process, tmp_path):
    rnnbench.run("rnn", "adding", [*TINY, "dataset.seq_len=10"], run_dir=tmp_path / "rnn")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "summary.json").write_text('{"status": "failed"}')
    trial = tmp_path / "trial"
    rnnbench.run("gru", "adding", [*TINY, "dataset.seq_len=10", "trainer.test=false"], run_dir=trial)
    code, out, err = in_process("eval", str(tmp_path), "dataset.seq_len=20,30")
    assert code == 0, err
    for run in ("gru", "rnn"):
        for length in (20, 30):
            assert f"{tmp_path / run} (dataset.seq_len: 10 → {length};" in out
            assert (tmp_path / run / "eval" / f"dataset.seq_len={length}.json").is_file()
    assert f"skipped 2:\n  {tmp_path / 'broken'}: a failed run\n  {trial}: a tuning trial" in out
    assert out.rstrip().endswith(f"rnnbench: 4 evaluations written; next: rnnbench report {tmp_path}")
    assert not (trial / "eval").exists()
    runs = rnnbench.load_runs(tmp_path)
    scored = runs.set_index("dir").loc[[str(tmp_path / "gru"), str(tmp_path / "rnn")], ["at_T.20.mse", "at_T.30.mse"]]
    assert scored.notna().all().all()
    code, _, err = in_process("eval", str(trial), "dataset.seq_len=20")
    assert code == 2 and "is a tuning trial, run on validation only; it is not scored on test data" in err


def test_eval_refuses_data_that_changes_the_models_sizes(in_process, tmp_path, capsys):
    """Words instead of characters: another vocabulary, so other embedding and output sizes."""
    run_dir = tmp_path / "text"
    rnnbench.run("gru", "text", TINY, run_dir=run_dir)
    capsys.readouterr()
    assert cli.main(["eval", str(run_dir), "dataset.level=word"]) == 2
    assert "gives the model other input or output sizes than it was trained with" in capsys.readouterr().err
    assert cli.main(["eval", str(run_dir), "dataset.seq_len=64"]) == 0  # a longer window of the same text


def test_eval_of_a_folder_without_a_trained_run_is_one_line(in_process, tmp_path):
    code, _, err = in_process("eval", str(tmp_path), "dataset.seq_len=20")
    assert code == 2 and err.strip().endswith(
        "holds no run record (summary.json); give a trained run's folder or a folder of runs"
    )
    code, _, err = in_process("eval")
    assert code == 2 and "needs a run folder (or a folder of runs) and what to change" in err


def test_sample_is_the_same_text_for_a_seed_and_other_text_for_another(in_process, tmp_path, capsys):
    rnnbench.run("gru", "text", TINY, run_dir=tmp_path / "lm")
    capsys.readouterr()  # the run's log
    first = in_process("sample", "lm", "--prompt", "ROMEO:", "--length", "40", "--seed", "7")
    again = in_process("sample", "lm", "--prompt", "ROMEO:", "--length", "40", "--seed", "7")
    other = in_process("sample", "lm", "--prompt", "ROMEO:", "--length", "40", "--seed", "8")
    assert first[0] == 0 and first == again and first[1] != other[1]
    prompt, generated = first[1].split("----- generated (temperature 0.8, seed 7) -----\n")
    assert prompt.strip() == "ROMEO:" and len(generated.rstrip("\n")) == 40  # characters: one per token
    code, out, _ = in_process("sample", "lm", "--length", "5")  # the test text's first window continued
    assert code == 0 and len(out.split("-----\n")[1].rstrip("\n")) == 5


def test_sample_refuses_a_run_that_is_not_a_language_model(trained, in_process):
    code, _, err = in_process("sample", str(trained))
    assert code == 2 and "is a run on adding; rnnbench sample generates text" in err
    code, _, err = in_process("sample", str(trained), "--temperature", "0")
    assert code == 2 and "--temperature must be a number in (0.0, 100.0], got 0.0" in err
