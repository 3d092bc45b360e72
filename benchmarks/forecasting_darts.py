"""rnnbench's forecasting numbers beside Darts' on the shipped S&P 500: do they agree on the
persistence baseline? Darts (`pip install u8darts`, its core without torch) is not a dependency of
rnnbench; without it this script says so and exits 0.

For each rolling origin of `dataset.backtest.origins=K` (and the plain split, K = 1), on the test
targets rnnbench scores (predict=price, seq_len=30, horizon=1):
  rnnbench   the persistence baseline's MAE, MSE and MASE (scale: the training part's one-step
             naive MAE), from StockTask.baselines("test")
  Darts      NaiveSeasonal(K=1).historical_forecasts over the same target times (forecast_horizon
             1, refit at each time on everything before it), scored by darts.metrics mae, mse and
             mase (m = 1)
MAE and MSE must agree to 1e-5 relative (else exit 1): rnnbench's baselines read the models'
float32 input windows, so its persistence forecast of a price is p_t to float32 precision. MASE
differs by definition: Darts scales by
the one-step naive MAE of `insample`, which it requires to run up to the step before the first
forecast (train + validation + the test window's warm-up rows); rnnbench scales by the training
part's, as Hyndman & Koehler define it and as a model trained on the training part is judged. The
script shows both, and checks Darts' against rnnbench's MAE over Darts' own scale.

    python benchmarks/forecasting_darts.py [--origins 4]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def rnnbench_side(origins: int, origin: int):
    from rnnbench.data.stock import StockTask

    task = StockTask(
        path="sp500", predict="price", seq_len=30, horizon=1, backtest={"origins": origins, "origin": origin}
    )
    baseline = task.baselines("test")["persistence"]
    parts = task._parts()
    return task, parts, baseline


def darts_side(task, parts) -> dict[str, float]:
    from darts import TimeSeries
    from darts.metrics import mae, mase, mse
    from darts.models import NaiveSeasonal

    test = parts["test"]
    position = task.frame.index.get_loc
    history = task.frame[task.target].to_numpy(np.float64)[: position(test.index[-1]) + 1]  # nothing after the window
    series = TimeSeries.from_values(history)
    first_target = position(test.index[0]) + task.seq_len - 1 + task.horizon  # StockTask's first test window
    forecast = NaiveSeasonal(K=1).historical_forecasts(
        series, start=first_target, forecast_horizon=1, stride=1, retrain=True, last_points_only=True, verbose=False
    )
    actual = series.slice_intersect(forecast)
    insample = series[:first_target]
    scale = float(np.abs(np.diff(history[:first_target])).mean())
    return {
        "mae": mae(actual, forecast),
        "mse": mse(actual, forecast),
        "n": len(forecast),
        "mase": mase(actual, forecast, insample=insample, m=1),
        "scale": scale,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origins", type=int, default=4)
    options = parser.parse_args()
    try:
        import darts  # noqa: F401
    except ImportError:
        print("skipped: Darts is not installed (pip install u8darts)")
        return 0
    rows, agree = [], True
    for origins, origin in [(1, 0), *((options.origins, i) for i in range(options.origins))]:
        task, parts, ours = rnnbench_side(origins, origin)
        theirs = darts_side(task, parts)
        n = len(task.splits()["test"])
        same = (
            n == theirs["n"]
            and all(abs(ours[k] - theirs[k]) <= 1e-5 * abs(theirs[k]) for k in ("mae", "mse"))
            and abs(theirs["mae"] / theirs["scale"] - theirs["mase"]) <= 1e-9 * theirs["mase"]
        )
        agree &= same
        period = f"{str(task.dates['test'][0])[:10]} … {str(task.dates['test'][-1])[:10]}"
        rows.append(
            f"| {origin + 1 if origins > 1 else '—'}/{origins} | {period} | {n} | {ours['mae']:.4f} / "
            f"{theirs['mae']:.4f} | {ours['mse']:.3f} / {theirs['mse']:.3f} | {ours['mase']:.4f} / "
            f"{theirs['mase']:.4f} | {task.mase_scale:.3f} / {theirs['scale']:.3f} | {'yes' if same else 'NO'} |"
        )
    print(
        "| origin | test targets | n | MAE rnnbench / Darts | MSE rnnbench / Darts | MASE rnnbench / Darts "
        "| MASE scale rnnbench / Darts | agree |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
