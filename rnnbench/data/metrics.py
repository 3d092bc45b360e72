"""Metrics shared by tasks. Each returns a Python float, the mean over the batch.

Integer targets equal to -100 (`rnnbench.data.task.IGNORE`, torch's ignore_index) are not scored.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE = -100


def mse(pred: Tensor, y: Tensor) -> float:
    return F.mse_loss(pred, y).item()


def cross_entropy(logits: Tensor, y: Tensor) -> float:
    """Mean cross-entropy in nats over scored positions; logits (..., C), integer targets (...)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE).item()


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Fraction of scored positions where the arg-max class is the target."""
    scored = y != IGNORE
    return (logits.argmax(-1) == y)[scored].float().mean().item()


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """Structural similarity (Wang et al. 2004) of images x, y (N, C, height, width), one value per
    image: the mean over valid positions and channels of

        ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)),  C1 = (0.01 L)², C2 = (0.03 L)²

    with local statistics under an 11×11 Gaussian window of σ = 1.5 (smaller on images under 11
    pixels: the largest odd size that fits), no padding. SSIM(x, x) = 1."""
    size = min(11, x.shape[-1], x.shape[-2])
    size -= 1 - size % 2
    offsets = torch.arange(size, dtype=x.dtype, device=x.device) - size // 2
    g = torch.exp(-(offsets**2) / (2 * 1.5**2))
    g = g / g.sum()
    channels = x.shape[1]
    window = (g[:, None] * g[None, :]).expand(channels, 1, size, size)

    def blur(image: Tensor) -> Tensor:
        return F.conv2d(image, window, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return index.flatten(1).mean(1)


def edit_distances(a: list[list[int]], b: list[list[int]]) -> np.ndarray:
    """Levenshtein distance (insertions, deletions, substitutions; cost 1 each) between a[i] and
    b[i], for all i at once: the dynamic programme over padded arrays, vectorised over the batch.
    A cell (i, j) only depends on cells (≤ i, ≤ j), so padding past a row's length never reaches
    the value read at (len a[i], len b[i])."""
    n = len(a)
    if n != len(b):
        raise ValueError(f"edit_distances needs equally many sequences ({n} vs {len(b)})")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    len_a = np.array([len(s) for s in a])
    len_b = np.array([len(s) for s in b])
    A = _padded(a, max(len_a.max(), 1), -1)
    Bm = _padded(b, max(len_b.max(), 1), -2)
    prev = np.tile(np.arange(Bm.shape[1] + 1), (n, 1))  # row i = 0: j insertions
    result = np.where(len_a == 0, len_b, 0)
    for i in range(1, A.shape[1] + 1):
        cur = np.empty_like(prev)
        cur[:, 0] = i
        substitute = prev[:, :-1] + (A[:, i - 1 : i] != Bm)  # (n, len b)
        delete = prev[:, 1:] + 1
        best = np.minimum(substitute, delete)
        for j in range(1, Bm.shape[1] + 1):  # insertion depends on the cell to the left
            cur[:, j] = np.minimum(best[:, j - 1], cur[:, j - 1] + 1)
        done = len_a == i
        result[done] = cur[done, len_b[done]]
        prev = cur
    return result


def _padded(rows: list[list[int]], width: int, fill: int) -> np.ndarray:
    out = np.full((len(rows), width), fill, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out
