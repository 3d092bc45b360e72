"""Memory of a training step, measured from the tensors themselves (no allocator statistics on
CPU), and a refusal, before training, of a configuration that cannot fit.

One training step holds, at its peak (the start of backward):
    params        the weights
    grads         as large as the weights
    optimizer     its state (Adam: two moments, 2 × params)
    activations   every tensor autograd saved for backward during the forward pass, counted with
                  `torch.autograd.graph.saved_tensors_hooks`, each storage once, weights excluded
    step_mb = params + grads + optimizer + activations (MiB). Allocator slack and temporaries of
    backward are not included: read it as a lower bound within a few percent, comparable between
    models. On CUDA the record also has `cuda_peak_mb` (torch.cuda.max_memory_allocated).

Activations grow with batch × T (× hidden), which is why a long sequence runs out of memory:
`check_fits` measures them on a forward pass over 2 samples, scales to the batch, and refuses a
step that would need more than 90% of the memory available now, with the estimate in the message.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from rnnbench.errors import UserError

MIB = 2**20
PROBE_BATCH = 2


class SavedTensors:
    """Bytes of the distinct storages autograd saves while the context is open (weights excluded)."""

    def __init__(self, exclude: Iterator[Tensor] = ()):
        self._excluded = {p.untyped_storage().data_ptr() for p in exclude}
        self._seen: set[int] = set()
        self.bytes = 0

    def _pack(self, tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in self._seen and key not in self._excluded:
            self._seen.add(key)
            self.bytes += storage.nbytes()
        # Detached: a tensor an operation saves may be its own output, and the output itself here
        # would be a reference cycle through autograd's C++ graph that Python's collector cannot
        # see — every graph counted would stay in memory (found as 24 GB in benchmarks/members.py).
        return tensor.detach()

    @contextlib.contextmanager
    def counting(self):
        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda tensor: tensor):
            yield self


def train_memory(model: nn.Module, optimizer: torch.optim.Optimizer, activation_bytes: int) -> dict:
    """The record's memory figures (MiB) after a first training step."""
    params = _bytes(model.parameters())
    state = _bytes(t for s in optimizer.state.values() for t in s.values() if isinstance(t, Tensor) and t.dim() > 0)
    out = {
        "params_mb": params / MIB,
        "optimizer_mb": state / MIB,
        "activations_mb": activation_bytes / MIB,
        "step_mb": (2 * params + state + activation_bytes) / MIB,
    }
    if torch.cuda.is_available() and next(model.parameters()).is_cuda:
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / MIB
    return out


def available_bytes(device: str) -> int | None:
    """Memory free for this process now: MemAvailable on Linux, at most a SLURM job's allocation
    (SLURM_MEM_PER_NODE, MB: `--mem`, hydra.launcher.mem_gb); free device memory on CUDA."""
    if device.startswith("cuda"):
        return torch.cuda.mem_get_info()[0]
    free = None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
    except OSError:
        pass
    allocated = os.environ.get("SLURM_MEM_PER_NODE", "")
    if allocated.isdigit() and int(allocated) > 0:
        free = min(free or sys.maxsize, int(allocated) * MIB)
    return free


def check_fits(
    model: nn.Module,
    forward: Callable[[int], Tensor],
    batch_size: int,
    device: str,
    what: str,
    limit: int | None = None,
    advice: str = "lower trainer.batch_size or dataset.seq_len (activations grow with both), or use a smaller model",
) -> int:
    """Estimate one training step's memory from a forward pass over PROBE_BATCH samples
    (`forward(n)` returns the loss of the first n training samples) and refuse it when it exceeds
    90% of `limit` (default: what is available now). Returns the estimate in bytes. Torch's RNG
    is left as it was, so the run is unchanged."""
    counter = SavedTensors(model.parameters())
    n = PROBE_BATCH
    with torch.random.fork_rng(devices=[]), counter.counting():
        forward(n)
    params = _bytes(model.parameters())
    estimate = counter.bytes * batch_size // n + 4 * params  # weights, grads, Adam's two moments
    where = ""
    if limit is None:
        limit = available_bytes(device)
        where = (
            " (to this SLURM job: hydra.launcher.mem_gb asks for more)" if os.environ.get("SLURM_MEM_PER_NODE") else ""
        )
    if limit is not None and estimate > 0.9 * limit:
        raise UserError(
            f"{what} needs about {_gib(estimate)} for one training step (activations "
            f"{_gib(counter.bytes * batch_size // n)} for batch {batch_size}), but {_gib(limit)} is "
            f"available{where}; {advice}"
        )
    return estimate


def _bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / MIB:.0f} MiB"
