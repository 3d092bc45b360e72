"""`rnnbench bench`: a DeepBench-style microbenchmark of the recurrent cores.

For each model × implementation × T × batch × hidden size, the model's core (the recurrent stack
that `rnnbench train` builds from conf/model/NAME.yaml, without embedding, readout or head) runs
on random (B, T, I) inputs, I = hidden size as in DeepBench:

    forward        no gradients (inference)
    train step     forward, then backward of y.sum() into the weights (no optimizer)

timed with `torch.utils.benchmark.Timer.blocked_autorange` (warm-up run first, blocks of calls
until `min_time` seconds, median and interquartile range over the blocks; on CUDA, synchronised).
`impl=torch` is the raw torch.nn.RNN/LSTM/GRU module, the yardstick for the runner's fused path.

Columns: tokens/s = B·T / median; FLOPs per token (one sample, one time step, forward; flops.py:
2 × multiply-adds of matmuls) and for a train step 3× that (the backward of a matmul is two
matmuls of its size; autograd skips the gradient of the input x and of h_0 = 0, so the true count
is slightly lower — tests/test_bench.py checks both against torch's counter); GFLOP/s and its
fraction of this machine's matmul peak, measured in the same
run (`matmul_peak`: the best of square float32 GEMMs, same threads); memory of a train step =
weights + their gradients + the tensors autograd saved (memory.SavedTensors; on CUDA the
allocator's peak). Results: a Markdown table, bench.csv, bench.json (machine, peak, date),
throughput_vs_T.png; `rnnbench report` picks up bench.csv files under its paths.
"""

from __future__ import annotations

import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import Tensor, nn

from rnnbench.errors import UserError
from rnnbench.report.bench import CSV, META, PLOT, ratios
from rnnbench.training.record import cpu_name

TORCH_MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
# The default grids (the quick one: the cells at batch 64, and the scan cells again at
# batch 1, where the sequential loop is bound by per-step overhead) and --full.
DEFAULT = [
    {
        "models": ["rnn", "lstm", "gru", "mingru", "minlstm"],
        "seq_lens": [10, 100, 1000],
        "batches": [64],
        "hiddens": [128],
    },
    {"models": ["mingru", "minlstm"], "seq_lens": [10, 100, 1000], "batches": [1], "hiddens": [128]},
]
FULL = [
    {
        "models": [
            "rnn",
            "lstm",
            "gru",
            "mingru",
            "minlstm",
            "indrnn",
            "lstm_peephole",
            "lstm_cifg",
            "lstm_nfg",
            "lstm_ln",
            "hybrid_parallel",
            "hybrid_stacked",
            "tcn",
            "transformer",
        ],
        "seq_lens": [10, 30, 100, 300, 1000, 3000],
        "batches": [1, 16, 64],
        "hiddens": [64, 128, 256, 512],
    }
]
MIN_TIME = {"default": 0.2, "full": 0.5}
IMPLS = ("torch", "fused", "compiled", "scan", "reference", "auto")


@dataclass(frozen=True)
class Case:
    model: str  # a conf/model name
    impl: str  # torch | fused | scan | reference | auto
    seq_len: int
    batch: int
    hidden: int


def model_config(model: str, impl: str, hidden: int):
    """The config of model=MODEL with hidden_size (and impl, when the model has the key) set."""
    from rnnbench.config import compose, group_options
    from rnnbench.training.build import model_kind

    if model not in group_options("model"):
        raise UserError(f"unknown model '{model}'; choose from: {', '.join(group_options('model'))}")
    node = compose(f"model={model}").model
    if model_kind(node) != "sequence":
        raise UserError(
            f"model {model} is not a sequence model; bench times the cores of sequence models "
            "(encoder-decoder and convolutional models are timed by their training runs)"
        )
    node.hidden_size = hidden
    if "impl" in node:
        node.impl = impl
    elif impl != "auto":
        raise UserError(f"model {model} has no impl option; bench it with impl auto")
    if "num_layers" in node:
        node.num_layers = 1  # DeepBench: one layer
    return node


def build_core(model: str, impl: str, hidden: int) -> nn.Module:
    """The core that `rnnbench train` would run (input size = hidden), or the raw torch.nn module."""
    if impl == "torch":
        if model not in TORCH_MODULES:
            raise UserError(f"impl torch exists for {', '.join(TORCH_MODULES)}, not {model}")
        return TorchCore(TORCH_MODULES[model](hidden, hidden, batch_first=True))
    from rnnbench.data.task import InputSpec
    from rnnbench.training.build import model_from_config

    whole = model_from_config(
        model_config(model, impl, hidden),
        input_spec=InputSpec("real", hidden),
        output_size=1,
        per_step=True,
        causal=False,
    )
    return whole.core


class TorchCore(nn.Module):
    """A torch.nn recurrent module with the core's call signature."""

    def __init__(self, module: nn.RNNBase):
        super().__init__()
        self.module = module

    def forward(self, x: Tensor, state=None):
        return self.module(x, state)


def impls_of(model: str) -> list[str]:
    """The implementations worth timing for a model: raw torch.nn, fused, compiled and reference
    for the cells with a kernel; compiled and reference for a cell with only the compiled loop; scan
    (the parallel form) and reference for cells with a parallel form; auto otherwise."""
    from hydra.utils import get_class

    from rnnbench.models import compiled

    node = model_config(model, "auto", 8)
    if "impl" not in node:
        return ["auto"]
    has_compiled = ["compiled"] if compiled.available() else []
    if model in TORCH_MODULES:
        return ["torch", "fused", *has_compiled, "reference"]
    cell = node.get("cell", {}).get("_target_")
    options = {k: v for k, v in node.get("cell", {}).items() if not k.startswith("_")}
    if cell and has_compiled and compiled.kind_of(get_class(cell), options):
        return ["compiled", "reference"]
    if cell and callable(getattr(get_class(cell), "forward_sequence", None)):
        return ["scan", "reference"]
    return ["auto"]


def forward_flops(core: nn.Module, case: Case, device: str) -> float:
    """Forward FLOPs of one sample per time step."""
    from rnnbench.training.flops import count_flops

    x = torch.randn(1, case.seq_len, case.hidden, device=device)
    return count_flops(core, x) / case.seq_len


def step_memory_mb(core: nn.Module, x: Tensor) -> float:
    """MiB of one train step: weights + gradients + saved activations (CUDA: the allocator's peak)."""
    from rnnbench.training.memory import MIB, SavedTensors

    if x.is_cuda:
        torch.cuda.reset_peak_memory_stats(x.device)
        train_step(core, x)
        return torch.cuda.max_memory_allocated(x.device) / MIB
    saved = SavedTensors(core.parameters())
    with saved.counting():
        y, _ = core(x)
    weights = sum(p.numel() * p.element_size() for p in core.parameters())
    y.sum().backward()
    core.zero_grad(set_to_none=True)
    return (2 * weights + saved.bytes) / MIB


def train_step(core: nn.Module, x: Tensor) -> None:
    core.zero_grad(set_to_none=True)
    y, _ = core(x)
    y.sum().backward()


def forward(core: nn.Module, x: Tensor) -> None:
    with torch.no_grad():
        core(x)


def block_times(fn: Callable[[], None], min_time: float) -> list[float]:
    """Seconds per call of fn, one value per block of calls (torch.utils.benchmark picks the block
    size; the accelerator is synchronised before each clock read)."""
    from torch.utils.benchmark import Timer

    measurement = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return list(measurement.blocked_autorange(min_run_time=min_time).times)


def matmul_peak(device: str, min_time: float = 0.3) -> float:
    """GFLOP/s of this machine's best square float32 GEMM (n = 512, 1024, 2048)."""
    best = 0.0
    for n in (512, 1024, 2048):
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        torch.mm(a, b)  # warm-up
        median = statistics.median(block_times(lambda a=a, b=b: torch.mm(a, b), min_time))
        best = max(best, 2 * n**3 / median / 1e9)
    return best


def measure_group(cases: list[Case], device: str, min_time: float, peak: float, rounds: int = 2) -> list[dict]:
    """Rows for cases that differ only in impl. Their timings are interleaved — `rounds` passes,
    alternating the order, min_time / rounds each — so that a slow spell of a shared machine
    falls on all of them; median and IQR are over every block of the passes."""
    runs = []
    for case in cases:
        torch.manual_seed(0)
        core = build_core(case.model, case.impl, case.hidden).to(device)
        x = torch.randn(case.batch, case.seq_len, case.hidden, device=device)
        forward(core, x)  # warm-up (lazy initialisation, oneDNN primitives)
        train_step(core, x)
        runs.append((case, core, x, {"fwd": [], "train": []}))
    for round_ in range(rounds):
        for _, core, x, times in runs if round_ % 2 == 0 else runs[::-1]:
            times["fwd"] += block_times(lambda core=core, x=x: forward(core, x), min_time / rounds)
            times["train"] += block_times(lambda core=core, x=x: train_step(core, x), min_time / rounds)
    rows = []
    for case, core, x, times in runs:
        flops = forward_flops(core, case, device)
        tokens = case.batch * case.seq_len
        row = {
            "model": case.model,
            "impl": case.impl if case.impl != "auto" else getattr(core, "impl", "auto"),
            "T": case.seq_len,
            "batch": case.batch,
            "hidden": case.hidden,
            "params": sum(p.numel() for p in core.parameters()),
            "flops_per_token": flops,
        }
        for kind, factor in (("fwd", 1), ("train", 3)):
            q1, median, q3 = statistics.quantiles(times[kind], n=4) if len(times[kind]) > 1 else [times[kind][0]] * 3
            gflops = factor * flops * tokens / median / 1e9
            row.update(
                {
                    f"{kind}_ms": median * 1e3,
                    f"{kind}_iqr_ms": (q3 - q1) * 1e3,
                    f"{kind}_tokens_per_s": tokens / median,
                    f"{kind}_gflops": gflops,
                    f"{kind}_peak_frac": gflops / peak,
                }
            )
        row["train_mb"] = step_memory_mb(core, x)
        rows.append(row)
    return rows


def grid(
    models: list[str], seq_lens: list[int], batches: list[int], hiddens: list[int], impls: list[str] | None = None
) -> list[Case]:
    cases = []
    for model in models:
        available = impls_of(model)
        chosen = [i for i in impls if i in (*available, "auto")] if impls else available
        if not chosen:
            raise UserError(f"model {model} has none of the impls {', '.join(impls)}; it has: {', '.join(available)}")
        for impl in chosen:
            for hidden in hiddens:
                for batch in batches:
                    cases.extend(Case(model, impl, t, batch, hidden) for t in seq_lens)
    return cases


def machine(device: str, peak: float) -> dict:
    import os

    info = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "matmul_peak_gflops": peak,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def run_bench(
    cases: list[Case],
    out: Path,
    device: str = "cpu",
    min_time: float = 0.2,
    progress: Callable[[str], None] = lambda _: None,
):
    """Measure every case, write bench.csv, bench.json and the plot into `out`; return (table, ratios, meta)."""
    import pandas as pd

    from rnnbench.training.record import atomic_write_text, to_json

    peak = matmul_peak(device)
    progress(f"matmul peak {peak:.1f} GFLOP/s ({torch.get_num_threads()} threads)")
    groups: dict[tuple, list[Case]] = {}
    for case in cases:
        groups.setdefault((case.model, case.seq_len, case.batch, case.hidden), []).append(case)
    rows = []
    for group in groups.values():
        for r in measure_group(group, device, min_time, peak):
            rows.append(r)
            progress(
                f"[{len(rows)}/{len(cases)}] {r['model']}/{r['impl']} T={r['T']} B={r['batch']} H={r['hidden']}: "
                f"train {r['train_tokens_per_s']:,.0f} tok/s, fwd {r['fwd_tokens_per_s']:,.0f} tok/s"
            )
    table = pd.DataFrame(rows)
    meta = {**machine(device, peak), "min_time": min_time, "cases": len(cases)}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / CSV, table.to_csv(index=False))
    atomic_write_text(out / META, to_json(meta) + "\n")
    from rnnbench.report.plots import plot_bench

    plot_bench(table, out / PLOT)
    return table, ratios(table), meta
