"""Forward FLOPs of a model on one sample, per time step (recorded as `flops_per_token`).

FLOPs = 2 × multiply-adds of matrix products and convolutions, as `torch.utils.flop_counter`
counts them; element-wise work (gate nonlinearities, the scan's cumulative sums) is not counted.
torch.nn.RNN/GRU modules decompose into counted matmuls, but torch.nn.LSTM runs as one fused op
the counter does not see; for every torch.nn recurrent module the analytic count replaces whatever
was counted inside it:

    per token, layer and direction:  2 · G · H · (I_l + H)    G = 4 (LSTM), 3 (GRU), 1 (RNN)

(biases are additions and not counted), so a fused layer and its readable reference cell report
the same FLOPs (tested).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def rnn_flops(module: nn.RNNBase, tokens: int) -> int:
    """Analytic FLOPs of a torch.nn recurrent module over `tokens` (batch × time) inputs."""
    gates, H = GATES[module.mode], module.hidden_size
    directions = 2 if module.bidirectional else 1
    total = 0
    for layer in range(module.num_layers):
        inputs = module.input_size if layer == 0 else H * directions
        total += directions * 2 * gates * H * (inputs + H)
    return total * tokens


def count_flops(model: nn.Module, x: Tensor, **kwargs: Any) -> int:
    """FLOPs of `model(x, **kwargs)` (one forward pass, no gradient)."""
    from torch.utils.flop_counter import FlopCounterMode

    analytic: dict[str, int] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.RNNBase):

            def count(mod, args, name=name):
                inputs = args[0]
                tokens = inputs.shape[0] * inputs.shape[1] if inputs.dim() == 3 else inputs.shape[0]
                analytic[name] = analytic.get(name, 0) + rnn_flops(mod, tokens)

            hooks.append(module.register_forward_pre_hook(count))
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x, **kwargs)
    finally:
        for hook in hooks:
            hook.remove()
    counts = {key: sum(ops.values()) for key, ops in counter.get_flop_counts().items()}
    root = type(model).__name__
    seen_inside = sum(counts.get(f"{root}.{name}" if name else root, 0) for name in analytic)
    return counts.get("Global", 0) - seen_inside + sum(analytic.values())
