"""Gradient diagnostics: ‖∂L/∂h_t‖ at every time step — the vanishing-gradient picture.

With ``diagnostics.grad_per_time_step=true`` the trainer measures, before the first step and at
every evaluation, on a fixed batch of validation samples (the first ``diagnostics.batch_size``):

    g_t = (1/B) Σ_i ‖∂ℓ_i/∂h_t^(i)‖₂,   t = 1 … T

where ℓ_i is sample i's loss and h_t the hidden state of the top recurrent layer (of the last
recurrent block of the core: the GRU block of ``hybrid_stacked``, the GRU branch of
``hybrid_parallel``). It is the total derivative, through the recurrence: for a task read out at
the last step (adding), g_T is the direct gradient and g_t for t < T what reaches back T − t steps;
a plain RNN's g_t decays geometrically with T − t (Bengio et al. 1994; Pascanu et al. 2013).

How. A fused kernel keeps its per-step states to itself, so g_t is measured on a twin of the model
built with ``impl=reference`` and the same weights (torch.nn's ``weight_ih_l{k}`` is the reference
cell's ``layers.{k}.weight_ih``), in eval mode (no dropout). Each h_t a reference cell returns is
the tensor its next step reads (`run_cell`), so ``h_t.grad`` is the total derivative. The twin's
gradients never touch the trained model or its optimizer, and torch's RNG is not used, so a run
with diagnostics trains exactly as one without.

Recorded in ``grad_per_time_step.json`` (record.GRADS: a list of {"step", "norms": [g_1 … g_T]},
"step" being the optimizer step of the measurement) and, from the last measurement,
``summary.grad_per_time_step`` = {"step", "first", "last", "first_over_last"}. The rows are part
of the training loop's state (trainer.LoopState), so a resumed run continues the same list.
Refused, before anything is written: models without a recurrent core (tcn, transformer),
bidirectional cores, and encoder-decoder or video models.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from rnnbench.data.task import SequenceTask
from rnnbench.errors import ConfigError, check_choice, check_int
from rnnbench.models.recurrent import Recurrent

FUSED_NAME = re.compile(r"fused\.(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")


class GradPerTimeStep:
    """Measures g_t for one run on its first `batch_size` validation samples; `build_twin(impl)`
    makes the model from its config with that impl."""

    def __init__(
        self, model: nn.Module, build_twin: Callable[[str], nn.Module], task: SequenceTask, batch_size: int = 64
    ):
        check_int("diagnostics.batch_size", batch_size, 1)
        self.task = task
        data = task.splits()["val"]
        self.x, self.y = data.x[:batch_size], data.y[:batch_size]
        self.twin = build_twin("reference").to(self.x.device)
        self.top = _top_recurrent(self.twin, model)

    def measure(self, model: nn.Module, step: int) -> dict:
        """{"step", "norms": [g_1 … g_T]} of `model`'s current weights."""
        self.twin.load_state_dict(reference_state_dict(model.state_dict()))
        self.twin.eval()
        steps: list[Tensor] = []
        self.top.step_outputs = steps
        try:
            with torch.enable_grad():
                pred, _ = self.twin(self.x)
                for h in steps:
                    h.retain_grad()
                self.task.loss(pred, self.y).backward()
        finally:
            self.top.step_outputs = None
        batch = self.x.shape[0]  # the loss is a batch mean: ×B gives each sample's own gradient
        norms = [float((h.grad * batch).flatten(1).norm(dim=1).mean()) if h.grad is not None else 0.0 for h in steps]
        self.twin.zero_grad(set_to_none=True)
        return {"step": step, "norms": norms}


def summarize(rows: list[dict]) -> dict | None:
    """The record's digest of the last measurement: g_1, g_T and their ratio."""
    if not rows:
        return None
    last = rows[-1]
    first, final = last["norms"][0], last["norms"][-1]
    return {
        "step": last["step"],
        "first": first,
        "last": final,
        "first_over_last": first / final if final > 0 else None,
    }


def enabled(cfg: DictConfig) -> bool:
    diagnostics = cfg.get("diagnostics") or {}
    return bool(
        check_choice("diagnostics.grad_per_time_step", diagnostics.get("grad_per_time_step", False), (True, False))
    )


def reference_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A state dict with torch.nn's fused names (core.fused.weight_ih_l0) renamed to the
    reference cells' (core.layers.0.weight_ih); other keys unchanged."""
    out = {}
    for key, value in state.items():
        match = FUSED_NAME.search(key)
        if match:
            name, layer, reverse = match.groups()
            key = key[: match.start()] + f"layers{'_reverse' if reverse else ''}.{layer}.{name}"
        out[key] = value
    return out


def _top_recurrent(twin: nn.Module, model: nn.Module) -> Recurrent:
    recurrents = [m for m in twin.modules() if isinstance(m, Recurrent)]
    name = getattr(model, "name", type(model).__name__)
    if not recurrents or getattr(model, "task_kind", "sequence") != "sequence":
        raise ConfigError(
            "diagnostics.grad_per_time_step",
            f"needs a sequence model with a recurrent core; model={name} has none",
            show_value=False,
        )
    if any(r.bidirectional for r in recurrents):
        raise ConfigError(
            "diagnostics.grad_per_time_step",
            "needs a unidirectional core (a bidirectional one has "
            "two gradient pictures); set model.bidirectional=false",
            show_value=False,
        )
    return recurrents[-1]
