"""The README's two set-up commands are what CI runs and what the package offers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from tests.conftest import TINY

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:bash|sh)?\n(.+?)\n```", setup)


def test_two_setup_commands_demo_then_tests():
    demo, tests = readme_commands()
    assert "constraints.txt" in demo and demo.endswith("rnnbench demo")
    assert "constraints.txt" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command_verbatim():
    assert readme_commands()[1] in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_the_readme_is_short_and_the_docs_give_the_same_setup():
    """The README is the front page (≤ 300 lines); the rest is the docs site, whose home page
    repeats the two set-up commands as they are."""
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 300
    index = (REPO / "docs" / "index.md").read_text(encoding="utf-8")
    assert all(command in index for command in readme_commands())


def test_constraints_pin_the_local_torch():
    pins = (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines()
    assert "torch==2.13.0" in pins


def readme_block(first_line: str) -> str:
    """The one code block of the README or the docs that starts with `first_line`."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    (block,) = [b for b in re.findall(r"```\w*\n(.+?)```", text, re.S) if b.startswith(first_line)]
    return block


def test_custom_cell_and_task_examples_train_and_report(in_process, tmp_path, monkeypatch):
    """The cell and task of docs/extending.md, as a user adds them: two Python files on the path and two YAML
    files in a folder of their own on Hydra's search path; nothing in rnnbench is edited."""
    for name in ("mycells.py", "mytasks.py", "my_conf/model/mgu.yaml", "my_conf/dataset/delay.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(readme_block(f"# {name}"))
    monkeypatch.syspath_prepend(str(tmp_path))
    runs = {
        "mgu_delay": [
            "hydra.searchpath=[file://my_conf]",
            "model=mgu",
            "dataset=delay",
            "dataset.seq_len=20",
            "dataset.delay=5",
        ],
        "lstm_adding": ["model=lstm", "model.cell._target_=mycells.MGUCell"],
    }
    for name, args in runs.items():
        code, _, err = in_process("train", *args, *TINY, f"hydra.run.dir=out/{name}")
        assert code == 0, err
    summaries = {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "out").rglob("summary.json")}
    assert {name: (s["status"], s["model"], s["dataset"]) for name, s in summaries.items()} == {
        "mgu_delay": ("completed", "mgu", "delay"),
        "lstm_adding": ("completed", "lstm", "adding"),
    }
    assert all(s["model_info"]["impl"] == "reference" for s in summaries.values())
    H = 8  # params of the cell: W (2H×I + 2H) + U_f + U_h, plus the head H + 1; I = 1 (delay), 2 (adding)
    for name, I in (("mgu_delay", 1), ("lstm_adding", 2)):
        assert summaries[name]["params"] == 2 * H * I + 2 * H + 2 * H * H + H + 1
    assert summaries["mgu_delay"]["baseline"]["mse"] == pytest.approx(1 / 12, rel=0.3)  # 32 test samples
    code, out, _ = in_process("report", "out")
    assert code == 0 and "| mgu " in out and "## delay" in out and "baseline mse (predict 0.5)" in out


def test_delay_task_example_is_what_its_docstring_says():
    namespace: dict = {}
    exec(readme_block("# mytasks.py"), namespace)
    task = namespace["DelayTask"](delay=3, seq_len=10, n_train=4000, n_val=10, n_test=10, seed=0)
    x, y = task.splits()["train"].x, task.splits()["train"].y
    assert torch.equal(y, x[:, -3, 0]) and x.shape == (4000, 10, 1)
    assert task.score_predictor(task.trivial_prediction, task.splits()["train"])["mse"] == pytest.approx(
        1 / 12, rel=0.05
    )


def test_mgu_example_matches_its_equations():
    namespace: dict = {}
    exec(readme_block("# mycells.py"), namespace)  # the README's own code, run as a user would
    cell = namespace["MGUCell"](3, 4)
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    Wf, Wh = cell.w.weight.chunk(2, 0)
    bf, bh = cell.w.bias.chunk(2, 0)
    f = torch.sigmoid(x @ Wf.T + bf + h @ cell.u_f.weight.T)
    expected = (1 - f) * h + f * torch.tanh(x @ Wh.T + bh + (f * h) @ cell.u_h.weight.T)
    out, state = cell(x, h)
    torch.testing.assert_close(out, expected)
    assert state is out
