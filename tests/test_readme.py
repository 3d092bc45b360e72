"""The README's two set-up commands are what CI runs and what the package offers."""
from __future__ import annotations

import re
from pathlib import Path

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
