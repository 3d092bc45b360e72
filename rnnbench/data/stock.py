"""Price series from a CSV (default: the shipped S&P 500 daily OHLCV, 1999–2018): predict the
target column `horizon` rows ahead — or `steps` consecutive rows from there, t+h … t+h+S−1, as
one output vector — from a window of `seq_len` rows.

    x: (N, T, F) float    — the `columns` over rows t−T+1 … t
    y: (N, 2S+1) float    — [model targets (S), price at t, prices at t+h … t+h+S−1]

What is predicted (``predict``):
    price       the price at t+h                      (inputs: the columns' levels)
    log_return  log(p_{t+h} / p_t)                    (inputs: the columns' log returns)
    direction   up (p_{t+h} > p_t) or not, a class    (inputs: the columns' log returns)
Inputs and a real-valued target are z-scored with means and deviations of the **training rows
only**. Price and return predictions are scored on the original scale, as prices (a predicted
return r̂ means p̂ = p_t·exp(r̂)): `mse`, `mae`, `mape` (%), and `dir_acc` (how often
"p̂ > p_t" agrees with "p_{t+h} > p_t"; a predicted no-change counts as "not up").
Direction is scored by `ce` and `acc`.

No look-ahead: rows are sorted by date and cut chronologically into train/val/test
(``split`` fractions); features, returns and windows are built inside each part, so no window
straddles a boundary and nothing from a later row reaches an earlier sample (tested).
Missing values (``missing``): ffill carries the last observation forward (never backward; a
leading gap is dropped), drop removes the row, error refuses the file.

Reading the file is strict, so that a series is never silently misread: one date format for the
whole column — inferred when exactly one reading fits every row (ISO 8601, %d/%m/%Y, %m/%d/%Y, …),
refused when two readings fit but disagree (dates whose days are all ≤ 12) unless
``date_format`` states it; numbers in the date column are refused (they would become 1970) unless
``date_format`` says how to read them (%Y%m%d); a date seen twice is refused (a long file with one
row per symbol and date: ``filter: Symbol=AAPL`` keeps one series); an infinite value is refused.
Each refusal names the file, the row and the column.

Baselines, on the same windows: persistence (p̂_{t+h} = p_t, i.e. zero return) and a linear
autoregression (least squares on the training windows, same inputs as the models); for
direction the training class frequencies, the last move (P(up | last move up/down), counted on
training) and a linear probability model. Beating persistence on a daily index is hard; that is the
honest finding this task usually reports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnbench.data.files import bundled, user_file
from rnnbench.data.task import PREDICTIONS, PREDICTIONS_PLOT, SPLITS, InputSpec, SequenceTask, Split
from rnnbench.errors import ConfigError, UserError, check_choice, check_fractions, check_int

# Date formats tried when dataset.date_format is null; a column must read the same way in all that fit.
DATE_FORMATS = (
    "ISO8601",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%d/%m/%y",
    "%m/%d/%y",
    "%b %d, %Y",
    "%d %b %Y",
)
SP500_SHA256 = "1c4d0aeed8db9284de8ad71e4063c97f645ad6dd13507f8e305338e96c396ba7"
PREDICT = ("price", "log_return", "direction")


class StockTask(SequenceTask):
    name = "stock"
    per_step = False

    def __init__(
        self,
        path: str = "sp500",
        date_column: str = "Date",
        columns=("Close",),
        target: str = "Close",
        predict: str = "log_return",
        seq_len: int = 30,
        horizon: int = 1,
        split=(0.7, 0.15, 0.15),
        missing: str = "ffill",
        date_format: str | None = None,
        filter: str | None = None,
        steps: int = 1,
        season: int = 5,
        backtest=None,
        data_dir: str = "datasets",
        seed: int = 0,
        solved_at: float | None = None,
        name: str | None = None,
    ):
        super().__init__(seed, solved_at, name)
        self.predict = check_choice("predict", predict, PREDICT)
        self.seq_len = check_int("seq_len", seq_len, 1, 10_000)
        self.horizon = check_int("horizon", horizon, 1, 10_000)
        self.steps = check_int("steps", steps, 1, 1000)
        if self.steps > 1 and predict == "direction":
            raise ConfigError("steps", "must be 1 for predict=direction (one class per window)", steps)
        self.season = check_int("season", season, 1, 10_000)
        backtest = dict(backtest or {})
        unknown = sorted(set(backtest) - {"origins", "origin"})
        if unknown:
            raise ConfigError("backtest", "takes origins and origin", unknown)
        self.origins = check_int("backtest.origins", backtest.get("origins", 1), 1, 1000)
        self.origin = check_int("backtest.origin", backtest.get("origin", 0), 0, self.origins - 1)
        self.missing = check_choice("missing", missing, ("ffill", "drop", "error"))
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns) or not len(columns):
            raise ConfigError("columns", "must be a non-empty list of column names, e.g. [Close, Volume]", columns)
        if date_format is not None and (not isinstance(date_format, str) or "%" not in date_format):
            raise ConfigError(
                "date_format", "must be a strptime format such as %d/%m/%Y, or null to infer it", date_format
            )
        if filter is not None and (not isinstance(filter, str) or "=" not in filter):
            raise ConfigError(
                "filter", "must be COLUMN=VALUE (the rows of one series, e.g. Symbol=AAPL), or null", filter
            )
        self.date_format, self.filter = date_format, filter
        self.columns = list(columns)
        if target not in self.columns:
            raise ConfigError(
                "target",
                f"must be one of dataset.columns {self.columns} (the models and the "
                "baselines see the series they predict)",
                target,
            )
        self.target, self.date_column = target, date_column
        self.fractions = check_fractions("split", split, 3)
        self.path = bundled("sp500.csv", SP500_SHA256, data_dir) if path == "sp500" else user_file(path, "dataset.path")
        self.frame, self.filled = self._load()
        self.input = InputSpec("real", len(self.columns))
        if self.predict == "direction":
            self.output_size, self.baseline_name = 2, "class frequencies"
            self.metrics = {"ce": "min", "acc": "max"}
        else:
            self.output_size, self.baseline_name = self.steps, "persistence"
            self.metrics = {"mse": "min", "mae": "min", "mape": "min", "mase": "min", "skill": "max", "dir_acc": "max"}

    # --- loading ------------------------------------------------------------------------------
    def _load(self):
        import pandas as pd

        try:
            frame = pd.read_csv(self.path, encoding="utf-8-sig")  # a byte-order mark is not part of the header
            header = list(pd.read_csv(self.path, encoding="utf-8-sig", nrows=1, header=None).iloc[0])
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise UserError(f"dataset.path: {self.path} is not a readable CSV ({str(exc).splitlines()[0]})") from None
        twice = sorted({str(c) for c in header if header.count(c) > 1})
        if twice:  # pandas would rename the second (Close.1) and read the first without a word
            raise UserError(f"dataset.path: {self.path} has the column {', '.join(twice)} more than once; keep one")
        needed = [self.date_column, *dict.fromkeys([*self.columns, self.target])]
        frame = self._filtered(frame)
        absent = [c for c in needed if c not in frame.columns]
        if absent:
            raise UserError(
                f"dataset: {self.path} has no column {', '.join(map(repr, absent))}; its columns are "
                f"{', '.join(map(str, frame.columns))} (set dataset.date_column, dataset.columns, dataset.target)"
            )
        values = pd.DataFrame({"date": self._dates(frame[self.date_column])})
        for column in needed[1:]:
            numbers = pd.to_numeric(frame[column], errors="coerce")
            bad = (numbers.isna() & frame[column].notna()) | np.isinf(numbers)
            if bad.any():
                row = int(bad.to_numpy().argmax())
                what = "an infinite value" if np.isinf(numbers.iloc[row]) else "not a number"
                value = frame[column].iloc[row]
                shown = repr(value) if isinstance(value, str) else value
                raise UserError(
                    f"dataset: {self.path} row {frame.index[row] + 2}: column {column} holds {shown}, {what}"
                )
            values[column] = numbers.to_numpy()
        values = values.sort_values("date", kind="stable").reset_index(drop=True)
        gaps = int(values[needed[1:]].isna().any(axis=1).sum())
        if gaps and self.missing == "error":
            row = int(values[needed[1:]].isna().any(axis=1).to_numpy().argmax())
            raise UserError(
                f"dataset: {self.path} has {gaps} rows with missing values (first on {values['date'][row].date()}); "
                "set dataset.missing=ffill (carry the last value forward) or drop"
            )
        if self.missing == "ffill":
            values[needed[1:]] = values[needed[1:]].ffill()
        values = values.dropna().reset_index(drop=True)
        if self.predict != "price":
            for column in needed[1:]:
                if (values[column] <= 0).any():
                    raise UserError(
                        f"dataset: column {column} has values ≤ 0, so it has no log returns; "
                        "use dataset.predict=price or other columns"
                    )
        return values, gaps

    def _filtered(self, frame):
        """The rows of the series `filter` names (COLUMN=VALUE), or all; the frame's index keeps
        each row's place in the file."""
        if self.filter is None:
            return frame
        column, value = self.filter.split("=", 1)
        if column not in frame.columns:
            raise UserError(
                f"dataset.filter: {self.path} has no column {column!r}; its columns are "
                f"{', '.join(map(str, frame.columns))}"
            )
        kept = frame[frame[column].astype(str) == value]
        if kept.empty:
            raise UserError(f"dataset.filter: no row of {self.path} has {column}={value}")
        return kept

    def _dates(self, column):
        """The date column read with one format for every row (the class docstring); a date seen
        twice is refused."""
        import pandas as pd

        where = f"dataset: {self.path} column {self.date_column}"
        if self.date_format is None and pd.api.types.is_numeric_dtype(column):
            raise UserError(
                f"{where} holds numbers ({column.iloc[0]}…), not dates; say how to read them with "
                "dataset.date_format (e.g. %Y%m%d)"
            )
        text = column.astype(str)
        formats = [self.date_format] if self.date_format else list(DATE_FORMATS)
        readings = {fmt: pd.to_datetime(text, format=fmt, errors="coerce") for fmt in formats}
        fitting = {fmt: parsed for fmt, parsed in readings.items() if not parsed.isna().any()}
        if not fitting:
            best = max(readings.values(), key=lambda parsed: parsed.notna().sum())
            row = int(best.isna().to_numpy().argmax())
            how = f"as {self.date_format}" if self.date_format else "in the format of the other rows"
            raise UserError(
                f"{where} row {column.index[row] + 2}: {text.iloc[row]!r} is not a date {how}; "
                "state the format with dataset.date_format (e.g. %d/%m/%Y)"
            )
        distinct = {tuple(parsed.to_numpy()): fmt for fmt, parsed in fitting.items()}
        if len(distinct) > 1:
            raise UserError(
                f"{where} reads both as {' and as '.join(distinct.values())}, with other dates (e.g. "
                f"{text.iloc[0]!r}); state the format, e.g. dataset.date_format={next(iter(distinct.values()))}"
            )
        dates = next(iter(fitting.values()))
        repeated = dates.duplicated()
        if repeated.any():
            row = int(repeated.to_numpy().argmax())
            raise UserError(
                f"{where} row {column.index[row] + 2}: {text.iloc[row]!r} is a date seen before "
                f"({int(repeated.sum())} such rows): several series in one file? keep one with "
                "dataset.filter=COLUMN=VALUE (e.g. Symbol=AAPL), or give one column per series"
            )
        return dates.to_numpy()

    # --- splits ---------------------------------------------------------------------------------
    def _parts(self):
        """Chronological train/val/test rows. With backtest.origins = K the last `split[2]` of the
        rows is cut into K consecutive test windows; origin i tests on window i, validates on the
        `split[1]` rows just before it and trains on everything before those; its test inputs reach
        back into those rows (inputs only), so that the K windows' targets tile the tested period.
        Rows after window i are not read: nothing later than its test period moves an origin's
        result (tested)."""
        n = len(self.frame)
        ends = [int(n * self.fractions[0]), int(n * (self.fractions[0] + self.fractions[1])), n]
        starts = [0, *ends[:2]]
        if self.origins > 1:
            window = (n - ends[1]) // self.origins
            test_start = ends[1] + self.origin * window
            ends = [test_start - (ends[1] - ends[0]), test_start, test_start + window]
            warm_up = self.seq_len + self.last - 1 + (1 if self.predict != "price" else 0)
            starts = [0, ends[0], test_start - warm_up]  # the test windows' inputs reach back: targets tile the period
        need = self.seq_len + self.last + (1 if self.predict != "price" else 0)
        for split, start, end in zip(SPLITS, starts, ends):
            if end - start < need:
                raise UserError(
                    f"dataset: the {split} part has {end - start} rows of {n}, fewer than the "
                    f"{need} one window needs (seq_len {self.seq_len} + horizon {self.horizon} "
                    f"+ steps {self.steps} − 1); "
                    "lower dataset.seq_len or use a longer series"
                )
        return {split: self.frame.iloc[start:end] for split, start, end in zip(SPLITS, starts, ends)}

    def _features(self, part) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(inputs (R, F), prices (R,), dates (R,)) of one part, returns computed inside it."""
        inputs = part[self.columns].to_numpy(np.float64)
        prices = part[self.target].to_numpy(np.float64)
        dates = part["date"].to_numpy()
        if self.predict != "price":
            inputs = np.diff(np.log(inputs), axis=0)
            prices, dates = prices[1:], dates[1:]
        return inputs, prices, dates

    @property
    def last(self) -> int:
        """How far ahead the last forecast step lies: h + steps − 1 rows."""
        return self.horizon + self.steps - 1

    def make_splits(self) -> dict[str, Split]:
        """x (N, T, F) float32; y (N, 2S + 1) float64 = [the S scaled targets | p_t | the S prices
        p_{t+h} … p_{t+h+S−1}] (S = steps; for S = 1: [target, p_t, p_{t+h}])."""
        T = self.seq_len
        raw = {split: self._features(part) for split, part in self._parts().items()}
        train_inputs, train_prices, _ = raw["train"]
        self.input_mean, self.input_std = train_inputs.mean(0), train_inputs.std(0) + 1e-12
        train_targets = self._targets(*self._ahead(train_prices))
        self.mase_scale = float(np.abs(np.diff(train_prices)).mean())  # in-sample one-step naive MAE (MASE's scale)
        if not self.mase_scale > 0:
            raise UserError(
                f"dataset: {self.target} does not change over the training part ({train_prices[0]:g} throughout): "
                "there is nothing to forecast, and MASE has no scale; choose another column or period"
            )
        self.target_mean, self.target_std = (train_targets.mean(), train_targets.std() + 1e-12)
        splits, self.dates = {}, {}
        for split, (inputs, prices, dates) in raw.items():
            now, future = self._ahead(prices)
            count = len(now)
            index = np.arange(count)[:, None] + np.arange(T)[None, :]  # window rows
            x = (inputs[index] - self.input_mean) / self.input_std
            target = self._targets(now, future)
            if self.predict != "direction":
                target = (target - self.target_mean) / self.target_std
            y = np.concatenate([target, now[:, None], future], axis=1)
            splits[split] = Split(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float64))
            self.dates[split] = dates[
                T - 1 + self.horizon : T - 1 + self.horizon + count
            ]  # of the first step's targets
        return splits

    def _ahead(self, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each window of one part: p_t (windows,) and p_{t+h} … p_{t+h+S−1} (windows, S)."""
        T, count = self.seq_len, len(prices) - self.seq_len - self.last + 1
        now = prices[T - 1 : T - 1 + count]
        return now, prices[T - 1 + self.horizon + np.arange(count)[:, None] + np.arange(self.steps)[None, :]]

    def _targets(self, now: np.ndarray, future: np.ndarray) -> np.ndarray:
        """(windows, S): the price at t+h+k, log(p_{t+h+k} / p_t), or whether it rose (k < S)."""
        if self.predict == "price":
            return future
        if self.predict == "log_return":
            return np.log(future / now[:, None])
        return (future > now[:, None]).astype(np.float64)

    def _now(self, y: Tensor) -> Tensor:
        return y[:, self.steps]

    def _future(self, y: Tensor) -> Tensor:
        return y[:, self.steps + 1 :]

    # --- scoring --------------------------------------------------------------------------------
    def to_price(self, pred: Tensor, y: Tensor) -> Tensor:
        """A regression output (N, S), scaled, as price predictions for t+h … t+h+S−1."""
        value = pred.reshape(len(pred), self.steps).double() * self.target_std + self.target_mean
        return value if self.predict == "price" else self._now(y)[:, None] * torch.exp(value)

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        if self.predict == "direction":
            return torch.nn.functional.cross_entropy(pred, y[:, 0].long())
        return torch.nn.functional.mse_loss(pred.reshape(len(pred), self.steps), y[:, : self.steps].float())

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        if self.predict == "direction":
            labels = y[:, 0].long()
            return {
                "ce": torch.nn.functional.cross_entropy(pred.float(), labels).item(),
                "acc": (pred.argmax(-1) == labels).double().mean().item(),
            }
        guess, now, future = self.to_price(pred, y), self._now(y)[:, None], self._future(y)
        error = guess - future  # (N, S): every step of every window counts once
        return {
            "mse": error.pow(2).mean().item(),
            "mae": error.abs().mean().item(),
            "mape": (100 * error.abs() / future.abs()).mean().item(),
            "dir_acc": (predicts_rise(guess, now) == (future > now)).double().mean().item(),
            "persistence_mse": (now - future).pow(2).mean().item(),
        }

    def finish_scores(self, means: dict[str, float]) -> dict[str, float]:
        """MASE = MAE / the training series' one-step naive MAE (Hyndman & Koehler 2006); skill =
        1 − MSE / persistence's MSE on the same samples (0: no better than no change)."""
        if self.predict == "direction":
            return means
        persistence = means.pop("persistence_mse")
        return {
            **means,
            "mase": means["mae"] / self.mase_scale,
            "skill": 1 - means["mse"] / persistence if persistence > 0 else float("nan"),
        }

    def _last(self, x: Tensor) -> Tensor:
        """p_t (price inputs) or r_t (return inputs) of the target, from the last input row."""
        k = self.columns.index(self.target)
        return x[:, -1, k].double() * float(self.input_std[k]) + float(self.input_mean[k])

    def trivial_prediction(self, x: Tensor) -> Tensor:
        """Persistence: no change from p_t at any step. Direction: the training split's class frequencies."""
        if self.predict == "direction":
            p_up = self.splits()["train"].y[:, 0].mean()
            return torch.log(torch.stack([1 - p_up, p_up])).expand(len(x), 2)
        value = self._last(x) if self.predict == "price" else torch.zeros(len(x), dtype=torch.float64, device=x.device)
        return self._as_target(value[:, None].expand(len(x), self.steps))

    def other_baselines(self) -> dict:
        """A linear autoregression: least squares from the flattened training windows (the models'
        inputs) to the models' target; for direction a linear probability model."""
        train = self.splits()["train"]

        def design(x: Tensor) -> Tensor:
            return torch.cat(
                [x.flatten(1).double(), torch.ones(len(x), 1, dtype=torch.float64, device=x.device)], dim=1
            )

        weights = torch.linalg.lstsq(design(train.x), train.y[:, : self.steps]).solution

        def linear_ar(x: Tensor) -> Tensor:
            value = design(x) @ weights
            if self.predict != "direction":
                return value
            p = value.squeeze(-1).clamp(0.01, 0.99)
            return torch.log(torch.stack([1 - p, p], dim=1))

        if self.predict != "direction":
            seasonal = {f"seasonal naive (m={self.season})": self._seasonal_naive} if self._seasons_fit() else {}
            return {"linear AR": linear_ar, **seasonal, "drift": self._drift}
        # last move: P(up | the last return was up / not up), counted on the training windows
        last_up = self._last(train.x) > 0
        p_up = torch.stack([train.y[~last_up, 0].mean(), train.y[last_up, 0].mean()])

        def last_move(x: Tensor) -> Tensor:
            p = p_up[(self._last(x) > 0).long()]
            return torch.log(torch.stack([1 - p, p], dim=1))

        return {"last move (Markov)": last_move, "linear AR": linear_ar}

    def _series(self, x: Tensor) -> Tensor:
        """The target column over the window, unscaled: prices (N, T) or log returns (N, T)."""
        k = self.columns.index(self.target)
        return x[:, :, k].double() * float(self.input_std[k]) + float(self.input_mean[k])

    def _as_target(self, value: Tensor) -> Tensor:
        """Price (predict=price) or log return forecasts (N, S) as the models' scaled output."""
        return (value - self.target_mean) / self.target_std

    def _season_backs(self) -> list[int]:
        """For each step j = h … h+S−1, how many rows before t the seasonal naive reads: km − j."""
        return [self.season * -(-j // self.season) - j for j in range(self.horizon, self.last + 1)]

    def _seasons_fit(self) -> bool:
        """Whether the window reaches back far enough (else that baseline is left out): a price
        km − j rows back needs that many rows before t; a return needs km − j returns."""
        return max(self._season_backs()) < self.seq_len + (0 if self.predict == "price" else 1)

    def _seasonal_naive(self, x: Tensor) -> Tensor:
        """p̂_{t+j} = p_{t+j−km}, the last value one or more seasons (m = dataset.season rows) back,
        k = ⌈j/m⌉, for each step j = h … h+S−1 — read from the window (persistence when km = j)."""
        series, columns = self._series(x), []
        for back in self._season_backs():
            columns.append(
                series[:, -1 - back] if self.predict == "price" else -series[:, series.shape[1] - back :].sum(1)
            )  # log(p_{t−back} / p_t)
        return self._as_target(torch.stack(columns, dim=1))

    def _drift(self, x: Tensor) -> Tensor:
        """The window's average change carried on j rows, for each step j = h … h+S−1:
        p̂_{t+j} = p_t + j·(p_t − p_{t−T+1})/(T − 1), or for returns j × the window's mean log return."""
        series = self._series(x)
        ahead = torch.arange(self.horizon, self.last + 1, dtype=torch.float64, device=x.device)[None, :]
        if self.predict == "price":
            slope = (series[:, -1] - series[:, 0]) / max(series.shape[1] - 1, 1)
            return self._as_target(series[:, -1:] + ahead * slope[:, None])
        return self._as_target(ahead * series.mean(1, keepdim=True))

    def examine(self, model: torch.nn.Module, run_dir: Path) -> dict:
        """test_predictions.csv and .png: the model's and persistence's predictions against the
        actual series over the test period."""
        import pandas as pd

        test = self.splits()["test"]
        pred = torch.cat([model(test.x[i : i + 1000])[0] for i in range(0, len(test), 1000)])
        y = test.y.cpu()
        frame = pd.DataFrame(
            {"date": self.dates["test"], "actual": self._future(y)[:, 0].numpy(), "price_t": self._now(y).numpy()}
        )  # the first forecast step
        if self.predict == "direction":
            frame["p_up"] = torch.softmax(pred.double(), dim=-1)[:, 1].cpu().numpy()
        else:
            frame["predicted"] = self.to_price(pred, test.y)[:, 0].cpu().numpy()
        frame.to_csv(run_dir / PREDICTIONS, index=False)
        plot_test_period(frame, self, run_dir / PREDICTIONS_PLOT)
        return {
            "test_period": [str(frame["date"].iloc[0])[:10], str(frame["date"].iloc[-1])[:10]],
            "predictions": PREDICTIONS,
        }

    def describe(self) -> dict:
        return {
            **super().describe(),
            "path": str(self.path),
            "columns": self.columns,
            "target": self.target,
            "predict": self.predict,
            "horizon": self.horizon,
            "steps": self.steps,
            "season": self.season,
            "backtest": {"origins": self.origins, "origin": self.origin},
            "rows": len(self.frame),
            "filled_rows": self.filled,
            "periods": {split: [str(d[0])[:10], str(d[-1])[:10]] for split, d in self.dates.items()},
        }


def predicts_rise(guess: Tensor, now: Tensor) -> Tensor:
    """A prediction says "up" when it exceeds p_t by more than rounding (1e-6 relative); no change
    (persistence) counts as "not up"."""
    return guess - now > 1e-6 * now.abs()


def plot_test_period(frame, task: StockTask, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(frame["date"], frame["actual"], color="black", lw=1, label=f"actual {task.target} (t+{task.horizon})")
    if "predicted" in frame:
        ax.plot(frame["date"], frame["predicted"], color="tab:red", lw=1, alpha=0.8, label="model")
        ax.plot(frame["date"], frame["price_t"], color="0.5", lw=1, ls="--", label="persistence")
    else:
        hit = (frame["p_up"] > 0.5) == (frame["actual"] > frame["price_t"])
        ax.scatter(frame["date"][hit], frame["actual"][hit], s=6, color="tab:green", label="direction right")
        ax.scatter(frame["date"][~hit], frame["actual"][~hit], s=6, color="tab:red", label="direction wrong")
    ax.set_title(f"{task.name}: test period, predict={task.predict}, T={task.seq_len}, h={task.horizon}")
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
