"""Moving shapes: next-frame prediction on generated "moving MNIST-like" videos (after
Srivastava et al. 2015 and Shi et al. 2015), with no download.

Each sequence shows `n_shapes` white shapes on a black `size`×`size` frame: squares, discs and
digits of the 5×7 bitmap font of images.py, each `min_size`…`max_size` pixels wide, starting at a
uniform position and moving in a uniform direction at `min_speed`…`max_speed` pixels per frame,
bouncing off the walls (the position is the triangle wave L − |L − ((p₀ + v t) mod 2L)|, L = size −
shape size). Digits are the glyphs scaled to the shape's size. Shapes overlap as the pixel-wise
maximum. The model sees `input_frames` frames and
predicts the next `output_frames`.

x: (N, k, 1, size, size) float in {0, 1}, y: (N, m, 1, size, size). Model outputs are per-pixel
logits; metrics read σ(logit): `mse` (mean over pixels and frames) and `ssim` (mean over predicted
frames). Training loss: per-pixel binary cross-entropy (`loss=bce`, as Shi et al.) or `mse`.
Baselines: "copy last frame" (every future frame = the last input frame) and "mean frame" (every
pixel = the training targets' mean intensity).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnbench.data import metrics
from rnnbench.data.images import FONT
from rnnbench.data.task import FRAMES, InputSpec, SyntheticTask
from rnnbench.errors import ConfigError, check_choice, check_float, check_int

SHAPES = ("square", "disc", "digit")
GLYPHS = torch.tensor([[[c == "#" for c in row] for row in glyph] for glyph in FONT], dtype=torch.bool)  # (10, 7, 5)
LOGIT_CLAMP = 1e-6  # a {0, 1} frame as logits: logit(clamp(p, ε, 1 − ε)); σ gives p back within ε
CHUNK = 256  # sequences rendered at once (bounds the (n, shapes, T, size, size) masks)


class MovingShapesTask(SyntheticTask):
    name = "moving_shapes"
    kind = "frames"
    metrics = {"mse": "min", "ssim": "max"}
    baseline_name = "copy last frame"
    per_step = False
    output_size = 1  # channels

    def __init__(
        self,
        size: int = 32,
        input_frames: int = 5,
        output_frames: int = 5,
        n_shapes: int = 2,
        shapes: tuple[str, ...] | list[str] = SHAPES,
        min_size: int = 7,
        max_size: int = 11,
        min_speed: float = 1.0,
        max_speed: float = 3.0,
        loss: str = "bce",
        n_train: int = 4000,
        n_val: int = 300,
        n_test: int = 300,
        seed: int = 0,
        solved_at: float | None = None,
        name: str | None = None,
    ):
        super().__init__(input_frames, n_train, n_val, n_test, seed, solved_at, name, max_seq_len=1000)
        self.size = check_int("size", size, 4, 512)
        self.horizon = check_int("output_frames", output_frames, 1, 1000)
        self.n_shapes = check_int("n_shapes", n_shapes, 1, 16)
        self.shapes = [check_choice("shapes", s, SHAPES) for s in shapes]
        if not self.shapes:
            raise ConfigError("shapes", f"must name at least one of {', '.join(SHAPES)}", list(shapes))
        self.min_size = check_int("min_size", min_size, 2, self.size - 1)
        self.max_size = check_int("max_size", max_size, self.min_size, self.size - 1)
        self.min_speed = check_float("min_speed", min_speed, 0.0)
        self.max_speed = check_float("max_speed", max_speed, self.min_speed)
        self.loss_name = check_choice("loss", loss, ("bce", "mse"))
        self.input = InputSpec("frames", 1, (self.size, self.size))

    @property
    def sample_len(self) -> int:
        """Frames the model steps through per sample: k read, m predicted."""
        return self.seq_len + self.horizon

    def model_args(self) -> dict:
        return {"input_spec": self.input, "output_size": self.output_size, "horizon": self.horizon}

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        frames = torch.cat([self._render(min(CHUNK, n - start), generator) for start in range(0, n, CHUNK)])
        return frames[:, : self.seq_len], frames[:, self.seq_len :]

    def _render(self, n: int, generator: torch.Generator) -> Tensor:
        """n videos (n, k + m, 1, size, size): each shape's sprite pasted at its (real-valued) corner
        rounded to the nearest pixel: pixel X shows sprite pixel ⌊X − corner + ½⌋ when that is in
        [0, side), so a corner anywhere in [0, L] keeps the whole shape inside the frame."""
        K, T, S = self.n_shapes, self.seq_len + self.horizon, self.size
        kind = torch.tensor([SHAPES.index(s) for s in self.shapes])[
            torch.randint(len(self.shapes), (n, K), generator=generator)
        ]
        digit = torch.randint(10, (n, K), generator=generator)
        side = torch.randint(self.min_size, self.max_size + 1, (n, K), generator=generator)
        room = (S - side).float()  # L: the corner moves in [0, L]
        start = torch.rand(n, K, 2, generator=generator) * room[..., None]
        angle = torch.rand(n, K, generator=generator) * 2 * math.pi
        speed = self.min_speed + torch.rand(n, K, generator=generator) * (self.max_speed - self.min_speed)
        velocity = speed[..., None] * torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)  # (n, K, 2)
        t = torch.arange(T, dtype=torch.float32)
        travel = start[:, :, None] + velocity[:, :, None] * t[:, None]  # (n, K, T, 2)
        L = room[:, :, None, None]
        corner = L - (L - torch.remainder(travel, 2 * L)).abs()  # bounce: triangle wave in [0, L]
        grid = torch.arange(S, dtype=torch.float32)
        u = grid - corner[..., 0, None] + 0.5  # (n, K, T, S): column offset inside the sprite
        v = grid - corner[..., 1, None] + 0.5  # (n, K, T, S): row offset
        sprite = self.sprites[kind, side - self.min_size, digit][:, :, None].expand(n, K, T, -1, -1)  # (n, K, T, M, M)
        M = sprite.shape[-1]
        row, col = v.floor().clamp(0, M - 1).long(), u.floor().clamp(0, M - 1).long()
        ink = torch.gather(sprite, 3, row[..., :, None].expand(n, K, T, S, M))  # rows picked: (n, K, T, S, M)
        ink = torch.gather(ink, 4, col[..., None, :].expand(n, K, T, S, S))  # then columns: (n, K, T, S, S)
        side4 = side[:, :, None, None].float()
        box = ((v >= 0) & (v < side4))[..., :, None] & ((u >= 0) & (u < side4))[..., None, :]
        return (box & ink).any(dim=1).float()[:, :, None]  # overlap = max over shapes

    @functools.cached_property
    def sprites(self) -> Tensor:
        """(shapes, sizes, digits, M, M) bool, M = max_size: every shape at every side length
        (top-left aligned, False beyond its side). Squares and discs are the same for every digit;
        glyphs are resized by adaptive max pooling, so a stroke never vanishes at small sizes."""
        M, sizes = self.max_size, range(self.min_size, self.max_size + 1)
        out = torch.zeros(len(SHAPES), len(sizes), 10, M, M, dtype=torch.bool)
        for i, s in enumerate(sizes):
            out[0, i, :, :s, :s] = True
            centre, grid = (s - 1) / 2, torch.arange(s, dtype=torch.float32)
            out[1, i, :, :s, :s] = (grid[:, None] - centre) ** 2 + (grid[None, :] - centre) ** 2 <= (s / 2) ** 2
            out[2, i, :, :s, :s] = F.adaptive_max_pool2d(GLYPHS.float()[:, None], (s, s))[:, 0].bool()
        return out

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        if self.loss_name == "bce":
            return F.binary_cross_entropy_with_logits(pred, y)
        return F.mse_loss(torch.sigmoid(pred), y)

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        frames = torch.sigmoid(pred)
        return {
            "mse": metrics.mse(frames, y),
            "ssim": metrics.ssim(frames.flatten(0, 1), y.flatten(0, 1)).mean().item(),
        }

    def trivial_prediction(self, x: Tensor) -> Tensor:
        return as_logits(x[:, -1:].expand(-1, self.horizon, -1, -1, -1))

    def other_baselines(self) -> dict:
        mean = self.splits()["train"].y.mean().item()
        return {
            "mean frame": lambda x: as_logits(torch.full((len(x), self.horizon, *x.shape[2:]), mean, device=x.device))
        }

    def examine(self, model: torch.nn.Module, run_dir: Path) -> dict:
        """frames.png (input / true / predicted frames of three test videos) and the test MSE of
        the model and of copy-last-frame at each predicted frame t+1 … t+m."""
        test = self.splits()["test"]
        pred = torch.cat([torch.sigmoid(model(test.x[i : i + 256])[0]) for i in range(0, len(test), 256)])
        copy = test.x[:, -1:]
        plot_frames(test.x[:3].cpu(), test.y[:3].cpu(), pred[:3].cpu(), run_dir / FRAMES, self.name)
        by_frame = ((pred - test.y) ** 2).mean(dim=(0, 2, 3, 4))
        copy_by_frame = ((copy - test.y) ** 2).mean(dim=(0, 2, 3, 4))
        return {
            "frames_plot": FRAMES,
            "mse_by_frame": [round(v, 6) for v in by_frame.tolist()],
            "copy_last_mse_by_frame": [round(v, 6) for v in copy_by_frame.tolist()],
        }

    def describe(self) -> dict:
        return {
            **super().describe(),
            "frame_size": self.size,
            "input_frames": self.seq_len,
            "output_frames": self.horizon,
            "n_shapes": self.n_shapes,
            "shapes": self.shapes,
            "loss": self.loss_name,
        }


def as_logits(frames: Tensor) -> Tensor:
    """Frames in [0, 1] as the logits a model would output for them."""
    return torch.logit(frames.clamp(LOGIT_CLAMP, 1 - LOGIT_CLAMP))


def plot_frames(x: Tensor, y: Tensor, pred: Tensor, path: Path, title: str) -> None:
    """One block of three rows per video: input frames, true next frames, predicted next frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    videos, k, m = len(x), x.shape[1], y.shape[1]
    cols = max(k, m)
    fig, axes = plt.subplots(3 * videos, cols, figsize=(1.1 * cols, 1.15 * 3 * videos), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for v in range(videos):
        for r, (label, frames) in enumerate((("input", x[v]), ("true", y[v]), ("predicted", pred[v]))):
            for c in range(frames.shape[0]):
                ax = axes[3 * v + r, c]
                ax.imshow(frames[c, 0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                if c == 0:
                    ax.set_title(f"{label}", fontsize=7, loc="left")
    fig.suptitle(f"{title}: {k} input frames → {m} predicted", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
