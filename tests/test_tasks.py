"""Tasks: shapes, determinism by seed, disjoint splits, and baselines equal to their formulas."""

from __future__ import annotations

import math

import pytest
import torch

from rnnbench.data.adding import AddingTask
from rnnbench.data.copy_memory import CopyMemoryTask
from rnnbench.errors import ConfigError

SMALL = dict(n_train=300, n_val=50, n_test=50)


def test_adding_shapes_and_targets():
    task = AddingTask(seq_len=30, seed=3, **SMALL)
    train = task.splits()["train"]
    assert train.x.shape == (300, 30, 2) and train.y.shape == (300,)
    marks = train.x[..., 1]
    assert torch.all(marks.sum(1) == 2), "exactly two marked positions"
    torch.testing.assert_close((train.x[..., 0] * marks).sum(1), train.y)
    assert train.x[..., 0].min() >= 0 and train.x[..., 0].max() < 1


def test_adding_marked_positions_are_uniform_over_the_sequence():
    x = AddingTask(seq_len=10, n_train=20_000, n_val=1, n_test=1).splits()["train"].x
    freq = x[..., 1].mean(0)  # each position is marked with probability 2/T
    torch.testing.assert_close(freq, torch.full((10,), 0.2), atol=0.01, rtol=0)


def test_adding_baseline_is_one_sixth():
    task = AddingTask(seq_len=20, n_train=10, n_val=10, n_test=50_000)
    assert task.baseline("test")["mse"] == pytest.approx(1 / 6, abs=0.005)


def test_copy_memory_layout():
    task = CopyMemoryTask(seq_len=15, recall_len=4, seed=1, **SMALL)
    x, y = task.splits()["val"].x, task.splits()["val"].y
    assert x.shape[1:] == y.shape[1:] == (15 + 8,) and x.dtype == y.dtype == torch.long
    assert 40 <= len(x) <= 50  # a few duplicates of training sequences may be dropped
    symbols = x[:, :4]
    assert symbols.min() >= 1 and symbols.max() <= 8
    assert torch.all(x[:, 4 : 15 + 3] == 0) and torch.all(x[:, -5:] == 9)
    assert torch.all(y[:, :-4] == 0) and torch.equal(y[:, -4:], symbols)


@pytest.mark.parametrize("T, K", [(10, 10), (100, 10), (50, 3)])
def test_copy_memory_baseline_is_memoryless_formula(T, K):
    task = CopyMemoryTask(seq_len=T, recall_len=K, n_train=10, n_val=10, n_test=4000)
    baseline = task.baseline("test")
    assert baseline["ce"] == pytest.approx(K * math.log(8) / (T + 2 * K), rel=1e-4)
    assert baseline["recall_acc"] == pytest.approx(1 / 8, abs=0.02)


@pytest.mark.parametrize(
    "make", [lambda s: AddingTask(seq_len=20, seed=s, **SMALL), lambda s: CopyMemoryTask(seq_len=20, seed=s, **SMALL)]
)
def test_same_seed_same_data_other_seed_other_data(make):
    a, b, c = make(7).splits(), make(7).splits(), make(8).splits()
    for split in ("train", "val", "test"):
        assert torch.equal(a[split].x, b[split].x) and torch.equal(a[split].y, b[split].y)
        assert not torch.equal(a[split].x, c[split].x)


def test_splits_never_overlap_even_when_collisions_are_likely():
    # recall_len=2: only 64 distinct sequences, so the raw generators collide constantly
    task = CopyMemoryTask(seq_len=3, recall_len=2, n_train=40, n_val=30, n_test=30, seed=0)
    rows = {split: {tuple(r.tolist()) for r in data.x} for split, data in task.splits().items()}
    assert not rows["train"] & rows["val"]
    assert not rows["train"] & rows["test"]
    assert not rows["val"] & rows["test"]
    assert task.describe()["sizes"]["val"] < 30  # duplicates were dropped, and the record says so


@pytest.mark.parametrize(
    "kwargs, key",
    [
        (dict(seq_len=0), "seq_len"),
        (dict(seq_len=-5), "seq_len"),
        (dict(seq_len=1), "seq_len"),
        (dict(seq_len="abc"), "seq_len"),
        (dict(seq_len=2.5), "seq_len"),
        (dict(n_train=0), "n_train"),
        (dict(seed=-1), "seed"),
        (dict(solved_at="x"), "solved_at"),
    ],
)
def test_bad_task_arguments_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=f"^{key} must"):
        AddingTask(**kwargs)
