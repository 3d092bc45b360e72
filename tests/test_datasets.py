"""The dataset suite: determinism, shapes, baselines, disjoint/chronological splits, the stream
layout of truncated BPTT, no look-ahead in the stock task, and clear errors for bad files."""

from __future__ import annotations

import gzip
import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rnnbench.config import instantiate
from rnnbench.data import IGNORE
from rnnbench.data.associative_recall import AssociativeRecallTask
from rnnbench.data.counting import END, CountingTask, sequence_correct
from rnnbench.data.images import SequentialImageTask, read_idx
from rnnbench.data.parity import BLANK, ParityTask
from rnnbench.data.selective_copy import SelectiveCopyTask
from rnnbench.data.stock import StockTask
from rnnbench.data.text import TextTask
from rnnbench.errors import UserError
from rnnbench.training.trainer import batch_order, train
from tests.conftest import compose_config


def same_splits(a, b) -> bool:
    return all(torch.equal(a[k].x, b[k].x) and torch.equal(a[k].y, b[k].y) for k in a)


# --- synthetic long-dependency tasks ---------------------------------------------------------------
@pytest.mark.parametrize("min_len", [None, 1, 5])
def test_parity_of_mixed_lengths_is_left_padded_with_a_blank_that_does_not_count(min_len):
    task = ParityTask(seq_len=12, n_train=500, n_val=50, n_test=50, seed=0, min_len=min_len)
    train = task.splits()["train"]
    x, y = train.x, train.y
    real = x != BLANK
    lengths = real.sum(1)
    assert task.input.size == (2 if min_len is None else 3)
    assert lengths.min() >= (min_len or 12) and lengths.max() == 12
    if min_len is not None:
        assert set(lengths.tolist()) == set(range(min_len, 13))  # every length of the range appears
    assert (real.int().diff(dim=1) >= 0).all()  # blanks, then bits: left-padded
    assert torch.equal(y, (x == 1).sum(1) % 2)
    by_hand = torch.tensor([[BLANK, BLANK, 1, 0, 1, 1]])  # three ones: odd
    assert ((by_hand == 1).sum(1) % 2).item() == 1


def test_selective_copy_layout_and_baseline():
    task = SelectiveCopyTask(seq_len=30, n_tokens=4, vocab_size=6, n_train=200, n_val=50, n_test=50, seed=3)
    data = task.splits()["train"]
    assert data.x.shape == (200, 34) and data.y.shape == (200, 34)
    region = data.x[:, :30]
    assert ((region > 0).sum(1) == 4).all()  # exactly K data tokens among noise
    assert torch.equal(region[region > 0].view(200, 4), data.y[:, 30:])  # recalled in order
    assert (data.y[:, :30] == IGNORE).all() and (data.x[:, 30:] == task.marker).all()
    assert task.baseline()["ce"] == pytest.approx(math.log(6), rel=1e-5)
    assert same_splits(task.splits(), SelectiveCopyTask(30, 4, 6, 200, 50, 50, seed=3).splits())


def test_mqar_every_query_asks_for_the_value_paired_with_its_key():
    task = AssociativeRecallTask(seq_len=40, n_pairs=5, vocab_size=32, n_train=100, n_val=20, n_test=20, seed=1)
    x, y = task.splits()["train"].x, task.splits()["train"].y
    for row_x, row_y in zip(x, y):
        pairs = dict(zip(row_x[0:10:2].tolist(), row_x[1:10:2].tolist()))
        assert len(pairs) == 5  # distinct keys
        queries = (row_y != IGNORE).nonzero().flatten()
        assert len(queries) == 5 and (queries >= 10).all()
        assert sorted(row_x[queries].tolist()) == sorted(pairs)  # each key asked once
        assert all(pairs[int(row_x[q])] == int(row_y[q]) for q in queries)
    assert task.baseline()["ce"] == pytest.approx(math.log(16), rel=1e-5)


def counting_oracle(task: CountingTask):
    """A 'model' that counts exactly: the right next symbol at every determined step."""

    def model(x, state=None):
        a, b, c = (torch.cumsum(x == s, dim=1) for s in (2, 3, 4))
        last = len(task.letters) == 2
        nxt = torch.where(
            x == 1,
            2,
            torch.where(
                x == 2,
                2,
                torch.where(
                    x == 3,
                    torch.where(b < a, 3, END if last else 4),
                    torch.where(x == 4, torch.where(c < a, 4, END), 0),
                ),
            ),
        )
        return torch.nn.functional.one_hot(nxt, 6).float(), None

    return model


@pytest.mark.parametrize("language", ["anbn", "anbncn"])
def test_counting_strings_scoring_and_generalisation_report(language, tmp_path):
    task = CountingTask(language=language, max_n=5, test_max_n=12, n_train=50, seed=0)
    splits = task.splits()
    k = len(task.letters)
    assert splits["val"].x.shape == (5, 1 + k * 5) and splits["test"].x.shape == (12, 1 + k * 12)
    row_x, row_y = splits["test"].x[2], splits["test"].y[2]  # n = 3
    assert row_x[: 1 + 3 * k].tolist() == [1] + sum(([2 + i] * 3 for i in range(k)), [])
    assert row_y[3 * k] == END and (row_y[1:4] == IGNORE).all()  # a-steps (and the first b's guess) unscored
    assert (splits["train"].x[:, 1:] != 0).sum(1).max() <= k * 5  # training n ≤ max_n
    oracle = counting_oracle(task)
    assert sequence_correct(oracle(splits["test"].x)[0], splits["test"].y).all()
    analysis = task.examine(oracle, tmp_path)
    assert analysis["max_n_generalised"] == 12 and analysis["correct_beyond_training"] == 7
    assert (tmp_path / "accuracy_by_n.json").exists()
    baseline = task.baseline("test")
    assert baseline["seq_acc"] == 0.0 and 0.5 < baseline["step_acc"] < 1.0  # bigram cannot count


def test_counting_an_off_by_one_counter_generalises_to_nothing(tmp_path):
    task = CountingTask(max_n=4, test_max_n=8, n_train=20)
    oracle = counting_oracle(task)

    def late(x, state=None):  # says E one step late for n ≥ 6
        out, _ = oracle(x)
        n = (x == 2).sum(1)
        out[n >= 6] = out[n >= 6].roll(1, dims=1)
        return out, None

    assert task.examine(late, tmp_path)["max_n_generalised"] == 5


# --- text --------------------------------------------------------------------------------------
@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"line {i} of the tiny corpus, with words.\n" for i in range(400)), encoding="utf-8")
    return path


def test_text_windows_are_contiguous_and_targets_shifted(corpus):
    task = TextTask(corpus=str(corpus), seq_len=10, eval_streams=3)
    train = task.splits()["train"]
    assert torch.equal(train.y[:, :-1], train.x[:, 1:]) and torch.equal(train.y[:-1, -1], train.x[1:, 0])
    assert len(task.splits()["val"]) % 3 == 0 and task.eval_streams == 3
    text = corpus.read_text()
    assert task.vocab.decode(train.x[0].tolist(), "char") == text[:10]


def test_stream_batches_continue_each_other(corpus):
    task = TextTask(corpus=str(corpus), seq_len=8)
    data = task.splits()["train"]
    order = batch_order(task, len(data), batch_size=4, seed=0)
    (i1, fresh1), (i2, fresh2) = next(order), next(order)
    y1, x2 = data.y[i1], data.x[i2]
    assert fresh1 and not fresh2
    assert torch.equal(y1[:, -1], x2[:, 0])  # row b of batch 2 continues row b of batch 1


def test_word_level_vocabulary_from_training_with_unk_and_eos(corpus):
    task = TextTask(corpus=str(corpus), level="word", seq_len=5)
    assert "<eos>" in task.vocab.index and "<unk>" in task.vocab.index
    test_words = set(corpus.read_text().split()) - set(task.vocab.tokens)
    assert test_words  # words like "399" only occur in val/test: mapped to <unk>
    assert set(task.metrics) == {"ppl", "ce", "acc"}
    base = task.baseline("val")
    assert base["ppl"] == pytest.approx(math.exp(base["ce"]))


def test_tinyshakespeare_is_shipped_and_checked():
    task = TextTask(seq_len=64)
    assert task.describe()["tokens"]["train"] > 1_000_000 * 0.89
    assert 4.5 < task.baseline("test")["bpc"] < 5.2  # unigram entropy of English characters


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no file at"),
        (b"", "is empty"),
        (b"\xff\xfe bad bytes \xff", "not UTF-8"),
        (b"\x00\x01\x02binary", "looks binary"),
        (b"short", "fewer than seq_len"),
    ],
)
def test_bad_text_files_are_refused_clearly(tmp_path, content, message):
    path = tmp_path / "t.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        TextTask(corpus=str(path), seq_len=32)


def test_a_named_corpus_offline_says_what_to_place_where(tmp_path):
    with pytest.raises(UserError, match=r"place the file at .*ptb.train.txt \(md5 f26c4b92"):
        TextTask(corpus="ptb_word", data_dir=str(tmp_path))


def test_training_on_text_carries_state_and_writes_a_sample(tmp_path, corpus):
    cfg = compose_config("dataset=text", f"dataset.corpus={corpus}", "model=lstm")
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and summary["task"]["stateful"]
    assert len(summary["analysis"]["sample"]) == 20 and (tmp_path / "sample.txt").exists()
    assert summary["baselines"]["unigram"] == summary["baseline"]


# --- stock ---------------------------------------------------------------------------------------
def make_csv(path: Path, rows: int = 300, seed: int = 0, **columns) -> Path:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
    frame = pd.DataFrame(
        {
            "Date": pd.bdate_range("2000-01-03", periods=rows).strftime("%m/%d/%Y"),
            "Close": close,
            "Volume": rng.integers(1_000, 2_000, rows),
            **columns,
        }
    )
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("predict", ["price", "log_return", "direction"])
def test_stock_splits_are_chronological_and_baselines_measured(tmp_path, predict):
    task = StockTask(path=str(make_csv(tmp_path / "s.csv")), predict=predict, columns=["Close", "Volume"], seq_len=10)
    splits = task.splits()
    assert splits["train"].x.shape[1:] == (10, 2)
    assert task.dates["train"][-1] < task.dates["val"][0] and task.dates["val"][-1] < task.dates["test"][0]
    baselines = task.baselines("test")
    if predict == "direction":
        assert set(baselines) == {"class frequencies", "last move (Markov)", "linear AR"}
        return
    assert set(baselines) == {"persistence", "linear AR", "seasonal naive (m=5)", "drift"}
    y = splits["test"].y.numpy()
    assert baselines["persistence"]["mse"] == pytest.approx(np.mean((y[:, 2] - y[:, 1]) ** 2), rel=1e-4)
    assert baselines["persistence"]["dir_acc"] == pytest.approx(np.mean(y[:, 2] <= y[:, 1]))


@pytest.mark.parametrize("predict", ["price", "log_return"])
def test_stock_has_no_look_ahead(tmp_path, predict):
    """Changing the future (val/test rows, or rows after a window's target) changes nothing the
    model was trained or scaled on, and no earlier window."""
    base = make_csv(tmp_path / "a.csv")
    frame = pd.read_csv(base)
    reference = StockTask(path=str(base), predict=predict, seq_len=10)
    changed = frame.copy()
    changed.loc[int(len(frame) * 0.7) :, "Close"] *= 3.0  # a crash-free tripling from the val part on
    changed.to_csv(tmp_path / "b.csv", index=False)
    other = StockTask(path=str(tmp_path / "b.csv"), predict=predict, seq_len=10)
    assert torch.equal(reference.splits()["train"].x, other.splits()["train"].x)
    assert torch.equal(reference.splits()["train"].y, other.splits()["train"].y)
    assert reference.input_mean == other.input_mean and reference.target_std == other.target_std
    # within the test part: altering its last row only changes the last window's target
    late = frame.copy()
    late.loc[len(frame) - 1, "Close"] *= 2
    late.to_csv(tmp_path / "c.csv", index=False)
    tail = StockTask(path=str(tmp_path / "c.csv"), predict=predict, seq_len=10).splits()["test"]
    test = reference.splits()["test"]
    assert (
        torch.equal(tail.x, test.x)
        and torch.equal(tail.y[:-1], test.y[:-1])
        and not torch.equal(tail.y[-1], test.y[-1])
    )


@pytest.mark.parametrize("predict", ["price", "log_return"])
def test_stock_mase_skill_seasonal_naive_and_drift_are_their_definitions(tmp_path, predict):
    """Checked against numpy on the raw prices: MASE scales MAE by the training series' one-step
    naive MAE, skill is 1 − MSE/MSE(persistence), the seasonal naive repeats the value m rows back,
    drift extends the window's average change."""
    path = make_csv(tmp_path / "s.csv")
    task = StockTask(path=str(path), predict=predict, seq_len=10, horizon=2, season=5)
    prices = pd.read_csv(path)["Close"].to_numpy()
    n, first = len(prices), 0 if predict == "price" else 1  # returns start one row later
    train = prices[first : int(n * 0.7)]
    scale = np.abs(np.diff(train)).mean()
    baselines = task.baselines("test")
    y = task.splits()["test"].y.numpy()
    now, future = y[:, 1], y[:, 2]
    persistence = baselines["persistence"]
    assert persistence["skill"] == pytest.approx(0, abs=1e-6)  # its own MSE ratio, through the target scaling
    assert persistence["mase"] == pytest.approx(np.abs(future - now).mean() / scale)
    part = prices[int(n * 0.85) :]  # the test part; window k ends at row t_k of it (returns: one row later)
    t = np.arange(9, 9 + len(y)) + first
    assert np.allclose(part[t], now) and np.allclose(part[t + 2], future)
    seasonal = baselines["seasonal naive (m=5)"]  # h = 2, m = 5: p̂_{t+2} = p_{t−3}
    assert seasonal["mse"] == pytest.approx(np.mean((part[t - 3] - future) ** 2), rel=1e-6)
    assert seasonal["skill"] == pytest.approx(1 - seasonal["mse"] / persistence["mse"], rel=1e-6)
    if predict == "price":  # the window's 10 prices: slope over 9 rows
        drift = now + 2 * (now - part[t - 9]) / 9
    else:  # the window's 10 log returns: their mean, twice
        drift = now * (now / part[t - 10]) ** (2 / 10)
    assert baselines["drift"]["mae"] == pytest.approx(np.abs(drift - future).mean(), rel=1e-6)


@pytest.mark.parametrize("predict", ["price", "log_return"])
def test_stock_forecasts_several_steps_as_one_vector(tmp_path, predict):
    """steps = 3 after horizon 2: targets t+2, t+3, t+4 for each window; every step scored; the
    baselines forecast each step (seasonal naive m = 5: p_{t−3}, p_{t−2}, p_{t−1})."""
    path = make_csv(tmp_path / "s.csv")
    task = StockTask(path=str(path), predict=predict, seq_len=10, horizon=2, steps=3, season=5)
    test = task.splits()["test"]
    assert task.output_size == 3 and test.y.shape == (len(test), 7)
    prices = pd.read_csv(path)["Close"].to_numpy()
    part = prices[int(len(prices) * 0.85) :]
    t = np.arange(9, 9 + len(test)) + (0 if predict == "price" else 1)
    now, future = test.y[:, 3].numpy(), test.y[:, 4:].numpy()
    assert np.allclose(now, part[t]) and np.allclose(future, part[t[:, None] + np.arange(2, 5)[None, :]])
    baselines = task.baselines("test")
    assert baselines["persistence"]["mse"] == pytest.approx(np.mean((future - now[:, None]) ** 2), rel=1e-5)
    seasonal = part[t[:, None] + np.array([-3, -2, -1])[None, :]]
    assert baselines["seasonal naive (m=5)"]["mae"] == pytest.approx(np.abs(seasonal - future).mean(), rel=1e-5)
    assert set(baselines) == {"persistence", "linear AR", "seasonal naive (m=5)", "drift"}
    short = StockTask(path=str(path), predict=predict, seq_len=3, season=5)  # p_{t+1−5} is not in a 3-row window
    assert "seasonal naive (m=5)" not in short.baselines("test")
    with pytest.raises(UserError, match="steps must be 1 for predict=direction"):
        StockTask(path=str(path), predict="direction", steps=2)


def test_a_run_forecasting_several_steps_completes(tmp_path):
    summary = train(compose_config("dataset=stock", "dataset.steps=5"), tmp_path)
    assert summary["status"] == "completed" and summary["task"]["steps"] == 5 and summary["model_info"]["params"] > 0
    assert {"mase", "skill"} <= set(summary["final"]) and (tmp_path / "test_predictions.png").is_file()


def test_a_backtest_origin_reads_nothing_after_its_test_window(tmp_path):
    """Rolling origin: K test windows cut from the last 15% of the rows; origin i trains on all rows
    before its validation rows, and changing any row after its test window changes none of its
    splits, its scaling or its baselines. Later origins train on more rows."""
    base = make_csv(tmp_path / "a.csv", rows=400)
    frame = pd.read_csv(base)
    tasks = [StockTask(path=str(base), seq_len=10, backtest={"origins": 3, "origin": i}) for i in range(3)]
    tests = [t.splits() and t.dates["test"] for t in tasks]
    dates = pd.to_datetime(frame["Date"]).to_numpy()
    for before, after in zip(tests, tests[1:]):  # successive windows whose targets tile the period
        assert dates[np.searchsorted(dates, before[-1]) + 1] == after[0]
    assert len(tasks[0].splits()["train"]) < len(tasks[1].splits()["train"]) < len(tasks[2].splits()["train"])
    assert tasks[1].dates["train"][-1] < tasks[1].dates["val"][0] < tasks[1].dates["val"][-1] < tests[1][0]
    end = int(np.searchsorted(dates, tests[1][-1])) + 1
    changed = frame.copy()
    changed.loc[end:, "Close"] *= 5.0  # everything after origin 1's test window
    changed.to_csv(tmp_path / "b.csv", index=False)
    other = StockTask(path=str(tmp_path / "b.csv"), seq_len=10, backtest={"origins": 3, "origin": 1})
    later = StockTask(path=str(tmp_path / "b.csv"), seq_len=10, backtest={"origins": 3, "origin": 2})
    assert not torch.equal(later.splits()["test"].y, tasks[2].splits()["test"].y)  # origin 2 does see the change
    for split in ("train", "val", "test"):
        assert torch.equal(tasks[1].splits()[split].x, other.splits()[split].x)
        assert torch.equal(tasks[1].splits()[split].y, other.splits()[split].y)
    assert tasks[1].baselines("test") == other.baselines("test") and tasks[1].mase_scale == other.mase_scale
    with pytest.raises(UserError, match=r"backtest.origin must be an integer in \[0, 2\], got 3"):
        StockTask(path=str(base), backtest={"origins": 3, "origin": 3})


def test_stock_gaps_follow_the_stated_policy(tmp_path):
    path = make_csv(tmp_path / "g.csv")
    frame = pd.read_csv(path)
    frame.loc[[5, 6], "Close"] = np.nan
    frame.to_csv(path, index=False)
    filled = StockTask(path=str(path), seq_len=5)
    assert filled.filled == 2 and len(filled.frame) == 300
    assert len(StockTask(path=str(path), seq_len=5, missing="drop").frame) == 298
    with pytest.raises(UserError, match="2 rows with missing values .*dataset.missing=ffill"):
        StockTask(path=str(path), seq_len=5, missing="error")


def dated_csv(path: Path, dates, close=None, **columns) -> Path:
    close = np.linspace(100, 200, len(dates)) if close is None else close
    pd.DataFrame({"Date": dates, "Close": close, **columns}).to_csv(path, index=False)
    return path


def test_day_first_dates_are_read_day_first_and_ambiguous_ones_are_refused(tmp_path):
    """One format for the whole date column: dd/mm/yyyy with days past 12 can only be day-first;
    when every day is ≤ 12 both readings fit and disagree, and the task says so instead of
    guessing month-first (a 14× different test MSE before)."""
    days = pd.date_range("2001-01-01", periods=400, freq="D")
    task = StockTask(path=str(dated_csv(tmp_path / "dayfirst.csv", days.strftime("%d/%m/%Y"))), seq_len=5)
    assert list(task.frame["date"]) == list(days)
    monthly = pd.date_range("2001-01-01", periods=12, freq="MS").strftime("%d/%m/%Y")
    path = dated_csv(tmp_path / "ambiguous.csv", monthly)
    with pytest.raises(UserError, match=r"column Date reads both as %d/%m/%Y and as %m/%d/%Y.*dataset.date_format="):
        StockTask(path=str(path), seq_len=2)
    stated = StockTask(path=str(path), seq_len=2, split=[0.5, 0.25, 0.25], date_format="%d/%m/%Y")
    assert stated.frame["date"].iloc[-1] == pd.Timestamp("2001-12-01")


def test_long_files_integer_dates_and_infinite_values_are_refused_with_the_way_out(tmp_path):
    days = list(pd.date_range("2001-01-01", periods=300, freq="D").strftime("%Y-%m-%d"))
    long = dated_csv(tmp_path / "long.csv", days * 2, Symbol=["A"] * 300 + ["B"] * 300)
    with pytest.raises(
        UserError, match=r"row 302: '2001-01-01' is a date seen before \(300 such rows\).*dataset.filter="
    ):
        StockTask(path=str(long), seq_len=5)
    one = StockTask(path=str(long), seq_len=5, filter="Symbol=B")
    assert len(one.frame) == 300 and list(one.frame["date"].dt.strftime("%Y-%m-%d")) == days
    with pytest.raises(UserError, match="dataset.filter: no row of .* has Symbol=C"):
        StockTask(path=str(long), seq_len=5, filter="Symbol=C")
    with pytest.raises(UserError, match=r"column Date holds numbers \(0…\), not dates; .*dataset.date_format"):
        StockTask(path=str(dated_csv(tmp_path / "ints.csv", range(300))), seq_len=5)
    infinite = dated_csv(tmp_path / "inf.csv", days, close=np.r_[np.linspace(1, 2, 299), np.inf])
    with pytest.raises(UserError, match="inf.csv row 301: column Close holds inf, an infinite value"):
        StockTask(path=str(infinite), seq_len=5)


@pytest.mark.parametrize(
    "change, kwargs, message",
    [
        (None, {"target": "Open", "columns": ["Open"]}, "has no column 'Open'; its columns are Date, Close, Volume"),
        ("text", {}, "row 12: column Close holds '12.5x', not a number"),
        ("date", {}, "is not a date"),
        ("short", {"seq_len": 50}, "fewer than the 52 one window needs"),
        ("negative", {}, "values ≤ 0, so it has no log returns"),
        ("empty", {}, "is empty"),
        ("missing", {}, "no file at"),
    ],
)
def test_bad_csv_files_are_refused_clearly(tmp_path, change, kwargs, message):
    path = make_csv(tmp_path / "bad.csv")
    frame = pd.read_csv(path)
    if change == "text":
        frame["Close"] = frame["Close"].astype(object)
        frame.loc[10, "Close"] = "12.5x"
    elif change == "date":
        frame.loc[3, "Date"] = "someday"
    elif change == "short":
        frame = frame.iloc[:150]
    elif change == "negative":
        frame.loc[20, "Close"] = -1.0
    frame.to_csv(path, index=False)
    if change == "empty":
        path.write_text("")
    elif change == "missing":
        path.unlink()
    with pytest.raises(UserError, match=message):
        StockTask(path=str(path), **kwargs).splits()


def test_training_on_stock_saves_the_test_period_plot(tmp_path):
    summary = train(compose_config("dataset=stock"), tmp_path)
    assert summary["status"] == "completed" and set(summary["baselines"]) == {
        "persistence",
        "linear AR",
        "seasonal naive (m=5)",
        "drift",
    }
    assert (tmp_path / "test_predictions.png").stat().st_size > 10_000
    assert len(pd.read_csv(tmp_path / "test_predictions.csv")) == summary["task"]["sizes"]["test"]


# --- sequential images -------------------------------------------------------------------------
def test_generated_digits_are_deterministic_and_shaped():
    task = SequentialImageTask(n_train=64, n_val=16, n_test=16, order="pixel", seed=4)
    splits = task.splits()
    assert splits["train"].x.shape == (64, 784, 1) and splits["train"].x.min() >= 0 and splits["train"].x.max() <= 1
    assert same_splits(splits, SequentialImageTask(n_train=64, n_val=16, n_test=16, order="pixel", seed=4).splits())
    rows = SequentialImageTask(n_train=64, n_val=16, n_test=16, order="row", seed=4).splits()["train"]
    assert torch.equal(rows.x.reshape(64, 784), splits["train"].x.squeeze(-1))


def test_the_permutation_is_fixed_and_shared_by_every_split_and_seed():
    plain = SequentialImageTask(n_train=8, n_val=8, n_test=8, seed=1).splits()
    a = SequentialImageTask(n_train=8, n_val=8, n_test=8, seed=1, permute=True).splits()
    b = SequentialImageTask(n_train=8, n_val=8, n_test=8, seed=2, permute=True).splits()
    perm = torch.randperm(784, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a["val"].x.squeeze(-1), plain["val"].x.squeeze(-1)[:, perm])
    assert not torch.equal(a["train"].x, b["train"].x)  # other seed, other images; same order
    assert torch.equal(
        b["test"].x.squeeze(-1)[:, torch.argsort(perm)],
        SequentialImageTask(n_train=8, n_val=8, n_test=8, seed=2).splits()["test"].x.squeeze(-1),
    )


def write_idx(path: Path, array: np.ndarray) -> str:
    header = (0x800 + array.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = gzip.compress(header + array.astype(np.uint8).tobytes())
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_mnist_reader_and_splits_from_a_local_mirror(tmp_path, monkeypatch):
    """The MNIST path end to end (download from 127.0.0.1, verify, parse, split) on fake IDX files."""
    import http.server
    import threading

    from rnnbench.data import images
    from rnnbench.data.download import RemoteFile

    served = tmp_path / "mirror"
    served.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (5_010, 28, 28)),
        "train_labels": rng.integers(0, 10, 5_010),
        "test_images": rng.integers(0, 256, (7, 28, 28)),
        "test_labels": rng.integers(0, 10, 7),
    }
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        files = {}
        for key, remote in images.MNIST_FILES.items():
            sha = write_idx(served / remote.name, arrays[key])
            files[key] = RemoteFile(
                remote.name, (f"http://127.0.0.1:{httpd.server_address[1]}/{remote.name}",), sha256=sha
            )
        monkeypatch.setattr(images, "MNIST_FILES", files)
        task = SequentialImageTask(source="mnist", order="row", data_dir=str(tmp_path / "data"))
        splits = task.splits()
    finally:
        httpd.shutdown()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [10, 5_000, 7]
    assert torch.equal(splits["test"].y, torch.from_numpy(arrays["test_labels"]))
    assert torch.allclose(splits["train"].x[3] * 255, torch.from_numpy(arrays["train_images"][3]).float())
    assert read_idx(tmp_path / "data" / "t10k-labels-idx1-ubyte.gz", 1).shape == (7,)


def test_an_idx_file_with_a_wrong_header_is_refused(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((3, 2, 2)))
    with pytest.raises(UserError, match="not an IDX file with 1 dimension"):
        read_idx(tmp_path / "x.gz", 1)


# --- every dataset config ---------------------------------------------------------------------
@pytest.mark.parametrize("dataset", ["selective_copy", "mqar", "anbn", "text", "stock", "seq_digits"])
def test_each_dataset_config_is_deterministic_by_seed(dataset):
    a = instantiate("dataset", compose_config(f"dataset={dataset}", "seed=1").dataset).splits()
    b = instantiate("dataset", compose_config(f"dataset={dataset}", "seed=1").dataset).splits()
    assert same_splits(a, b)


def test_counting_run_records_the_largest_n_generalised(tmp_path):
    summary = train(compose_config("dataset=anbn", "model=lstm"), tmp_path)
    analysis = summary["analysis"]
    assert 0 <= analysis["max_n_generalised"] <= 8 and summary["task"]["max_n"] == 4


def test_a_byte_order_mark_is_not_data(tmp_path):
    """A file saved with a UTF-8 byte-order mark (Excel, Notepad): the text has no BOM token and
    the CSV's first column keeps its name."""
    from rnnbench.data.files import read_text

    (tmp_path / "book.txt").write_bytes("\ufeffhello world\n".encode())
    assert read_text(tmp_path / "book.txt", "dataset.corpus") == "hello world\n"
    plain = make_csv(tmp_path / "plain.csv")
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    with_bom, without = StockTask(path=str(tmp_path / "bom.csv"), seq_len=10), StockTask(path=str(plain), seq_len=10)
    assert torch.equal(with_bom.splits()["test"].x, without.splits()["test"].x)


def test_a_column_given_twice_is_refused(tmp_path):
    path = make_csv(tmp_path / "s.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0] + ",Close", *(line + ",1" for line in lines[1:])]) + "\n")
    with pytest.raises(UserError, match="has the column Close more than once; keep one"):
        StockTask(path=str(path), seq_len=10)
