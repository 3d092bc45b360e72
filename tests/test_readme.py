"""The README's two set-up commands are what CI runs and what the package offers."""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from tests.conftest import TINY, run_cli

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


def test_constraints_pin_the_local_torch():
    pins = (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines()
    assert "torch==2.13.0" in pins


def readme_block(first_line: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```\w*\n(.+?)```", text, re.S) if b.startswith(first_line)]
    return block


def test_custom_cell_example_trains_and_reports(tmp_path):
    (tmp_path / "mycells.py").write_text(readme_block("# mycells.py"))
    (tmp_path / "my_conf" / "model").mkdir(parents=True)
    (tmp_path / "my_conf" / "model" / "mgu.yaml").write_text(readme_block("# my_conf/model/mgu.yaml"))
    tiny = [o for o in TINY if not o.startswith("model.embedding")]
    for args in (["hydra.searchpath=[file://my_conf]", "model=mgu"],
                 ["model=lstm", "model.cell._target_=mycells.MGUCell"]):
        out = run_cli("train", *args, *tiny, "output_root=out", cwd=tmp_path, PYTHONPATH=str(tmp_path))
        assert out.returncode == 0, out.stderr
    summaries = [json.loads(p.read_text()) for p in sorted((tmp_path / "out").rglob("summary.json"))]
    assert [s["status"] for s in summaries] == ["completed", "completed"]
    assert {s["model"] for s in summaries} == {"mgu", "lstm"}
    assert all(s["model_info"]["impl"] == "reference" for s in summaries)
    H, I = 8, 2  # params of the cell: W (2H×I + 2H) + U_f + U_h, plus the head H + 1
    assert all(s["params"] == 2 * H * I + 2 * H + 2 * H * H + H + 1 for s in summaries)
    report = run_cli("report", "out", cwd=tmp_path)
    assert report.returncode == 0 and "| mgu " in report.stdout


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
