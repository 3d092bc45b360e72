"""The Chomsky-hierarchy tasks (Delétang et al. 2023): each answer against hand-worked examples, the
generators against independent checks, the length protocol (no training string longer than 40,
every test length present), the tape layout, the per-length scores and the baselines."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

from rnnbench.data.chomsky.binary_addition import BinaryAdditionTask
from rnnbench.data.chomsky.binary_multiplication import BinaryMultiplicationTask
from rnnbench.data.chomsky.bucket_sort import BucketSortTask
from rnnbench.data.chomsky.compute_sqrt import ComputeSqrtTask
from rnnbench.data.chomsky.cycle_navigation import CycleNavigationTask
from rnnbench.data.chomsky.duplicate_string import DuplicateStringTask
from rnnbench.data.chomsky.even_pairs import EvenPairsTask
from rnnbench.data.chomsky.missing_duplicate import MissingDuplicateTask
from rnnbench.data.chomsky.modular_arithmetic import MINUS, PLUS, TIMES, ModularArithmeticTask
from rnnbench.data.chomsky.modular_arithmetic_brackets import (
    CLOSE,
    OPEN,
    ModularArithmeticBracketsTask,
    evaluate,
    expression,
)
from rnnbench.data.chomsky.odds_first import OddsFirstTask
from rnnbench.data.chomsky.parity_check import ParityCheckTask
from rnnbench.data.chomsky.protocol import EMPTY, FIRST_SYMBOL, PAD, longest_all_right
from rnnbench.data.chomsky.reverse_string import ReverseStringTask
from rnnbench.data.chomsky.solve_equation import EQUALS, SolveEquationTask, X
from rnnbench.data.chomsky.stack_manipulation import POP, PUSH_0, PUSH_1, StackManipulationTask
from rnnbench.data.task import BY_LENGTH, IGNORE
from rnnbench.errors import ConfigError
from tests.conftest import compose_config

TASKS = {
    "even_pairs": EvenPairsTask,
    "modular_arithmetic": ModularArithmeticTask,
    "parity_check": ParityCheckTask,
    "cycle_navigation": CycleNavigationTask,
    "stack_manipulation": StackManipulationTask,
    "reverse_string": ReverseStringTask,
    "modular_arithmetic_brackets": ModularArithmeticBracketsTask,
    "solve_equation": SolveEquationTask,
    "duplicate_string": DuplicateStringTask,
    "missing_duplicate": MissingDuplicateTask,
    "odds_first": OddsFirstTask,
    "binary_addition": BinaryAdditionTask,
    "binary_multiplication": BinaryMultiplicationTask,
    "compute_sqrt": ComputeSqrtTask,
    "bucket_sort": BucketSortTask,
}
SMALL = {"n_train": 300, "n_val": 50, "test_min_len": 41, "test_max_len": 60, "test_per_length": 3}


def bits(text: str) -> list[int]:
    return [int(c) for c in text.replace(" ", "")]


# Hand-worked examples: (input, output), most of them the authors' docstring examples.
D, T = 5, 7  # modular_arithmetic_brackets: ( and ) are symbols 8 and 9; solve_equation: ( ) are 7, 8
EXAMPLES = {
    EvenPairsTask: [(bits("001110"), [0]), (bits("0101001"), [1]), ([1], [0])],
    ParityCheckTask: [(bits("1010100"), [1]), (bits("01111"), [0])],
    CycleNavigationTask: [([2, 0, 1, 0, 0], [3]), ([2, 2, 2, 0], [2]), ([0], [4])],
    ModularArithmeticTask: [
        ([1, PLUS, 2, TIMES, 3], [2]),
        ([1, MINUS, 1, MINUS, 1], [4]),
        ([0, TIMES, 1, PLUS, 4, TIMES, 3, MINUS, 2], [0]),
        ([4, TIMES, 4, TIMES, 4], [4]),
    ],
    StackManipulationTask: [
        ([0, 1, 1, 0, PUSH_1, POP, POP], [1, 1, 0, 2, 0, 0, 0, 0]),
        ([1, 1, 0, POP, POP, POP], [2, 0, 0, 0, 0, 0, 0]),
        ([1, 1, 0, POP, POP, POP, POP, PUSH_0], [0, 2, 0, 0, 0, 0, 0, 0, 0]),
        ([1], [1, 2]),
    ],
    ReverseStringTask: [(bits("011010"), bits("010110"))],
    ModularArithmeticBracketsTask: [
        ([OPEN, OPEN, 1, PLUS, 2, CLOSE, TIMES, OPEN, MINUS, 3, CLOSE, CLOSE], [1]),  # ((1+2)*(-3)) = -9
        ([MINUS, 2], [3]),
        ([OPEN, MINUS, 2, PLUS, 4, CLOSE], [2]),
    ],
    SolveEquationTask: [
        ([T, T, X, 5, 2, 8, 6, T, 6, 3, 8, 8, EQUALS, 1], [1]),  # ((x+2)-(-3)) = 1  →  x = 1
        ([X, EQUALS, 4], [4]),
        ([6, X, EQUALS, 4], [1]),  # -x = 4
        ([0, 0], [0]),
    ],
    DuplicateStringTask: [(bits("101"), bits("101101"))],
    MissingDuplicateTask: [([0, 1, 1, 0, 0, 2, 1, 0], [1]), ([1, 0, 1, 1, 2, 1, 3], [0]), ([1], [1])],
    OddsFirstTask: [(bits("00110101"), bits("01110100")), (bits("110"), bits("110"))],
    BinaryAdditionTask: [
        ([0, 0, 1, 2, 0, 1, 1, 0, 1], [0, 1, 0, 1, 1, 2, 0, 0, 0, 0]),  # 4 + 22 = 26
        ([1, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1], [1, 0, 0, 1, 0, 1, 2, 0, 0, 0, 0, 0]),  # 9 + 32 = 41
        ([0, 1], [0, 1, 2]),
    ],
    BinaryMultiplicationTask: [
        ([0, 0, 1, 2, 0, 1, 1, 0, 1], [0, 0, 0, 1, 1, 0, 1, 2, 0]),  # 4 · 22 = 88
        ([1, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 0]),  # 9 · 32 = 288
        ([1, 1], [0, 2]),
    ],
    ComputeSqrtTask: [(bits("100101"), bits("110")), (bits("111"), bits("10")), (bits("1"), bits("1"))],
    BucketSortTask: [([1, 0, 2, 0, 4, 1, 1, 2], [0, 0, 1, 1, 1, 2, 2, 4]), ([1, 1, 1, 0, 0, 0, 1], bits("0001111"))],
}


def task(cls, **overrides):
    return cls(**{**SMALL, **overrides})


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_each_answer_is_the_hand_worked_one(cls):
    t = task(cls)
    for s, out in EXAMPLES[cls]:
        assert t.answer(s) == out, s
        assert len(out) == t.output_length(len(s))


def test_every_task_has_examples_and_a_config():
    assert set(EXAMPLES) == set(TASKS.values())
    for name, cls in TASKS.items():
        cfg = compose_config(f"dataset={name}", tiny=False).dataset
        assert cfg._target_ == f"{cls.__module__}.{cls.__name__}"


def independent_answer(t, s: list[int]) -> list[int]:
    """Each output worked out another way than the task's own `answer`."""
    name = type(t).__name__
    if name == "EvenPairsTask":
        return [int(s[0] != s[-1])]
    if name == "CycleNavigationTask":
        return [(s.count(2) - s.count(0)) % 5]
    if name == "ModularArithmeticTask":
        text = "".join(str(a) if a < 5 else {PLUS: "+", MINUS: "-", TIMES: "*"}[a] for a in s)
        return [eval(text) % 5]  # Python's precedence: × before + and −
    if name == "ModularArithmeticBracketsTask":
        text = "".join(str(a) if a < 5 else "+-*()"[a - 5] for a in s)
        return [eval(text) % 5]
    if name == "SolveEquationTask":
        if len(s) < 3:
            return [0]
        for d in range(5):
            text = "".join(str(d) if a == X else str(a) if a < 5 else "+-()"[a - 5] for a in s[:-2])
            if eval(text) % 5 == s[-1]:
                return [d]
    if name in ("BinaryAdditionTask", "BinaryMultiplicationTask"):
        if 2 in s:
            i = s.index(2)
            n, m = (int("".join(map(str, part[::-1])), 2) for part in (s[:i], s[i + 1 :]))
            value = n + m if name == "BinaryAdditionTask" else n * m
        elif name == "BinaryAdditionTask":  # L ≤ 2: one number, its own sum
            value = int("".join(map(str, s[::-1])), 2)
        else:  # L ≤ 2: zeros, then the termination symbol
            return [0] * (len(s) - 1) + [2]
        digits = bits(f"{value:b}"[::-1])
        return digits + [2] + [0] * (t.output_length(len(s)) - len(digits) - 1)
    if name == "ComputeSqrtTask":
        root = math.isqrt(int("".join(map(str, s)), 2))
        return bits(f"{root:b}".zfill(math.ceil(len(s) / 2)))
    return t.answer(s)  # the others are one line each, checked by their examples


@pytest.mark.parametrize("name", sorted(TASKS))
def test_generators_draw_valid_strings_of_the_asked_length(name):
    t, rng = task(TASKS[name]), random.Random(1)
    for length in [*range(1, 13), 40, 41, 99, 200]:
        for _ in range(20):
            s, out = t.sample(rng, length)
            expected = length - (1 - length % 2) if name == "modular_arithmetic" else length
            assert len(s) == expected and len(out) == t.output_length(len(s))
            assert all(0 <= a < t.input_symbols for a in s) and all(0 <= o < t.output_symbols for o in out)
            assert out == independent_answer(t, s), (s, out)


def test_bracketed_expressions_are_balanced_and_their_value_is_read_back():
    rng = random.Random(0)
    for length in range(1, 60):
        s = expression(rng, length, times=True)
        assert len(s) == length
        depth = 0
        for a in s:
            depth += (a == OPEN) - (a == CLOSE)
            assert depth >= 0
        assert depth == 0
    with pytest.raises(ValueError, match="not one bracketed expression"):
        evaluate([1, 2])


def test_solve_equation_has_exactly_one_solution():
    t, rng = task(SolveEquationTask), random.Random(3)
    for _ in range(200):
        s, _ = t.sample(rng, rng.randint(3, 40))
        assert s.count(X) == 1 and s[-2] == EQUALS
        matches = []
        for d in range(5):
            text = "".join(str(d) if a == X else str(a) if a < 5 else "+-()"[a - 5] for a in s[:-2])
            matches += [d] if eval(text) % 5 == s[-1] else []
        assert len(matches) == 1


@pytest.mark.parametrize("name", sorted(TASKS))
def test_splits_follow_the_length_protocol(name):
    t = task(TASKS[name])
    splits = t.splits()
    for split, lengths in (("train", range(1, 41)), ("val", range(1, 41)), ("test", range(41, 61))):
        x, y = splits[split].x, splits[split].y
        n = (x >= FIRST_SYMBOL).sum(1)
        assert int(n.max()) <= max(lengths) and int(n.min()) >= min(lengths) - 1  # modular arithmetic: odd
        slots = x == EMPTY
        assert torch.equal(slots, y != IGNORE)  # an answer at every empty slot and nowhere else
        for row in range(0, len(x), max(1, len(x) // 20)):
            k = int(n[row])
            assert (x[row, :k] >= FIRST_SYMBOL).all() and slots[row, k : k + t.output_length(k)].all()
            assert (x[row, k + t.output_length(k) :] == PAD).all()
    test_lengths = set((splits["test"].x >= FIRST_SYMBOL).sum(1).tolist())
    if name == "modular_arithmetic":
        assert test_lengths == set(range(41, 61, 2))
    else:
        assert test_lengths == set(range(41, 61)) and len(splits["test"].x) == 20 * 3
    train_rows = {tuple(r) for r in splits["train"].x[:, :40].tolist()}
    assert not any(tuple(r) in train_rows for r in splits["val"].x[:, :40].tolist())  # held out


def test_the_defaults_are_the_papers():
    t = EvenPairsTask()
    assert (t.max_train_len, list(t.test_lengths)[:2], t.test_max_len) == (40, [41, 42], 500)


def oracle(t, wrong: dict[int, int] | None = None):
    """A predictor that knows each answer (from the tape's input symbols); `wrong` maps an input
    length to the output position it gets wrong."""

    def predict(x):
        logits = torch.zeros(*x.shape, t.output_symbols)
        for row, tape in enumerate(x.tolist()):
            s = [a - FIRST_SYMBOL for a in tape if a >= FIRST_SYMBOL]
            out = t.answer(s)
            if wrong and len(s) in wrong:
                out[wrong[len(s)]] = (out[wrong[len(s)]] + 1) % t.output_symbols
            logits[row, torch.arange(len(s), len(s) + len(out)), out] = 10.0
        return logits

    return predict


def test_scores_are_per_length_then_averaged_and_termination_ends_scoring():
    t = task(BinaryAdditionTask)
    # 1 + 1 = 2: input 1 2 1, output 0 1 2 0 — only 0 1 2 are scored (up to the termination symbol);
    # 1 + 3 = 4: input 1 2 1 1, output 0 0 1 2 0
    split = t.tape([([1, 2, 1], [0, 1, 2, 0]), ([1, 2, 1, 1], [0, 0, 1, 2, 0]), ([1, 2, 1, 1], [0, 0, 1, 2, 0])], 9)
    assert t.score_predictor(oracle(t), split)["acc"] == 1.0
    assert t.score_predictor(oracle(t, {3: 3}), split)["acc"] == 1.0  # after the termination symbol: not scored
    scores = t.scores_by_length(oracle(t, {4: 0}), split, rows=1)  # length 4: 1 of its 4 scored symbols wrong
    assert scores[3]["acc"] == 1.0 and scores[4]["acc"] == 0.75
    assert t.score_predictor(oracle(t, {4: 0}), split)["acc"] == pytest.approx(0.875)  # lengths weigh alike


@pytest.mark.parametrize("name", sorted(TASKS))
def test_a_model_that_knows_the_answers_scores_one_at_every_length(name):
    t = task(TASKS[name])
    for split in ("val", "test"):
        assert t.score_predictor(oracle(t), t.splits()[split], 7)["acc"] == 1.0


def test_loss_sums_over_a_rows_outputs():
    t = task(DuplicateStringTask)
    split = t.tape([([1], [1, 1]), ([0, 1], [0, 1, 0, 1])], 6)
    logits = torch.zeros(2, split.x.shape[1], 2)
    assert t.loss(logits, split.y).item() == pytest.approx(6 * math.log(2) / 2)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [(ParityCheckTask, 0.5), (CycleNavigationTask, 0.2), (BucketSortTask, 0.2), (DuplicateStringTask, 0.5)],
)
def test_the_baseline_is_chance_where_classes_are_uniform(cls, expected):
    t = task(cls, n_train=4000, test_per_length=40)
    assert t.baseline("test")["acc"] == pytest.approx(expected, abs=0.06)


def test_bad_lengths_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="test_max_len"):
        EvenPairsTask(test_min_len=50, test_max_len=40)
    with pytest.raises(ConfigError, match="max_train_len"):
        EvenPairsTask(max_train_len=0)
    with pytest.raises(ConfigError, match="leaves no validation string unseen in training"):
        EvenPairsTask(max_train_len=1, n_train=100, n_val=5).splits()  # two strings of length 1


def test_longest_all_right():
    assert longest_all_right({1: 1.0, 2: 1.0, 3: 0.9, 4: 1.0}) == 2
    assert longest_all_right({1: 0.5}) == 0


def test_a_run_writes_accuracy_by_length(in_process):
    code, out, err = in_process("train", "model=lstm", "dataset=parity_check", "debug=tiny", "hydra.run.dir=run")
    assert code == 0, err
    from pathlib import Path

    by_length = json.loads(Path("run", BY_LENGTH).read_text())
    assert {int(k) for k in by_length} >= set(range(11, 15))  # the test lengths of the tiny config
    assert all(0.0 <= v <= 1.0 for v in by_length.values())
    summary = json.loads(Path("run", "summary.json").read_text())
    assert summary["analysis"]["acc_longer"] == pytest.approx(summary["final"]["acc"])
    assert summary["task"]["level"] == "regular"
