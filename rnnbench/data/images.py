"""Sequential images: classify a 28×28 digit read one pixel (T = 784) or one row (T = 28) at a
time (Le et al. 2015); ``permute=true`` reads the pixels in a fixed random order (pMNIST), which
spreads each stroke over the whole sequence.

Sources (``source``):
    digits  offline: the ten digits of a 5×7 bitmap font, each drawn with a random scale,
            rotation, shear and shift (one batched affine resampling), stroke blur and pixel
            noise, from the task seed. Needs no download; easier than MNIST, same shapes.
    mnist   the MNIST IDX files (LeCun et al. 1998), downloaded once into data_dir and
            SHA-256-checked; the last 5,000 training images are the validation split.
``n_train``/``n_val``/``n_test`` cap the split sizes (null: all MNIST images; digits are
generated to that size).

x: (N, 784, 1) or (N, 28, 28) float in [0, 1], y: (N,) long. Metrics: `ce` (nats), `acc`.
Baseline "class frequencies": the training labels' frequencies → accuracy ≈ 0.1.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rnnbench.data import metrics
from rnnbench.data.download import RemoteFile, fetch
from rnnbench.data.task import SPLITS, InputSpec, SequenceTask, Split, split_generator
from rnnbench.errors import ConfigError, UserError, check_choice, check_float, check_int

SIDE = 28
_MNIST = ("https://storage.googleapis.com/cvdf-datasets/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/")
MNIST_FILES = {
    key: RemoteFile(name, tuple(m + name for m in _MNIST), sha256=sha)
    for key, name, sha in (
        (
            "train_images",
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        (
            "train_labels",
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        (
            "test_images",
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        (
            "test_labels",
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    )
}
MNIST_VAL = 5_000
# 5×7 glyphs of 0–9, one string per row, '#' = ink
FONT = [
    [" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "],
    ["  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "],
    [" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"],
    ["#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "],
    ["   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "],
    ["#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "],
    ["  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "],
    ["#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "],
    [" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "],
    [" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "],
]


class SequentialImageTask(SequenceTask):
    metrics = {"acc": "max", "ce": "min"}
    baseline_name = "class frequencies"
    per_step = False
    output_size = 10

    def __init__(
        self,
        source: str = "digits",
        order: str = "pixel",
        permute: bool = False,
        permutation_seed: int = 0,
        n_train: int | None = None,
        n_val: int | None = None,
        n_test: int | None = None,
        noise: float = 0.1,
        data_dir: str = "datasets",
        seed: int = 0,
        solved_at: float | None = None,
        name: str | None = None,
    ):
        super().__init__(seed, solved_at, name)
        self.name = name or f"{'p' if permute else 's'}{source}"
        self.source = check_choice("source", source, ("digits", "mnist"))
        self.order = check_choice("order", order, ("pixel", "row"))
        self.permute = check_choice("permute", permute, (False, True))
        self.permutation_seed = check_int("permutation_seed", permutation_seed, 0)
        if self.source == "digits" and None in (n_train, n_val, n_test):
            raise ConfigError(
                "n_train",
                "n_train, n_val and n_test must be set for source=digits (images are generated)",
                show_value=False,
            )
        self.sizes = {
            split: None if n is None else check_int(f"n_{split}", n, 1)
            for split, n in zip(SPLITS, (n_train, n_val, n_test))
        }
        self.noise = check_float("noise", noise, 0.0, 1.0)
        self.data_dir = data_dir
        self.seq_len = SIDE * SIDE if order == "pixel" else SIDE
        self.input = InputSpec("real", 1 if order == "pixel" else SIDE)

    def make_splits(self) -> dict[str, Split]:
        if self.source == "digits":
            images = {
                split: render_digits(self.sizes[split], split_generator(self.seed, i), self.noise)
                for i, split in enumerate(SPLITS)
            }
        else:
            images = self._mnist()
        permutation = torch.randperm(SIDE * SIDE, generator=torch.Generator().manual_seed(self.permutation_seed))
        splits = {}
        for split, (pixels, labels) in images.items():
            flat = pixels.reshape(len(pixels), SIDE * SIDE)
            if self.permute:
                flat = flat[:, permutation]
            x = flat.unsqueeze(-1) if self.order == "pixel" else flat.view(-1, SIDE, SIDE)
            splits[split] = Split(x.contiguous(), labels)
        return splits

    def _mnist(self) -> dict[str, tuple[Tensor, Tensor]]:
        files = {key: fetch(remote, Path(self.data_dir)) for key, remote in MNIST_FILES.items()}
        train_x, train_y = read_idx(files["train_images"], 3), read_idx(files["train_labels"], 1)
        test_x, test_y = read_idx(files["test_images"], 3), read_idx(files["test_labels"], 1)
        parts = {
            "train": (train_x[:-MNIST_VAL], train_y[:-MNIST_VAL]),
            "val": (train_x[-MNIST_VAL:], train_y[-MNIST_VAL:]),
            "test": (test_x, test_y),
        }
        out = {}
        for split, (x, y) in parts.items():
            n = self.sizes[split] or len(x)
            out[split] = (torch.from_numpy(x[:n].astype(np.float32) / 255.0), torch.from_numpy(y[:n].astype(np.int64)))
        return out

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(pred, y)

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        return {"ce": metrics.cross_entropy(pred, y), "acc": metrics.accuracy(pred, y)}

    def trivial_prediction(self, x: Tensor) -> Tensor:
        counts = torch.bincount(self.splits()["train"].y, minlength=10).float() + 1e-3
        return torch.log(counts / counts.sum()).expand(len(x), 10)

    def describe(self) -> dict:
        return {**super().describe(), "source": self.source, "order": self.order, "permute": self.permute}


def render_digits(n: int, generator: torch.Generator, noise: float) -> tuple[Tensor, Tensor]:
    """n random 28×28 digit images in [0, 1] and their labels."""
    glyphs = torch.tensor([[[c == "#" for c in row] for row in glyph] for glyph in FONT], dtype=torch.float32)
    glyphs = F.pad(glyphs, (1, 1, 0, 0)).unsqueeze(1)  # (10, 1, 7, 7): square, so scaling keeps the aspect
    labels = torch.randint(0, 10, (n,), generator=generator)

    def uniform(low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    scale, angle, shear = uniform(1.5, 2.0), uniform(-0.25, 0.25), uniform(-0.2, 0.2)
    shift_x, shift_y = uniform(-0.2, 0.2), uniform(-0.2, 0.2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([scale * cos, scale * (-sin + shear), shift_x], 1),
            torch.stack([scale * sin, scale * cos, shift_y], 1),
        ],
        1,
    )  # output → glyph coordinates
    grid = F.affine_grid(theta, [n, 1, SIDE, SIDE], align_corners=False)
    images = F.grid_sample(glyphs[labels], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    images = F.avg_pool2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), 3, stride=1) * 1.6  # soft strokes
    images = images + noise * torch.randn(images.shape, generator=generator)
    return images.clamp(0, 1).squeeze(1), labels


def read_idx(path: Path, dims: int) -> np.ndarray:
    """An IDX file (gzipped) as a uint8 array; its header is checked."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    if magic != 0x800 + dims:
        raise UserError(f"{path} is not an IDX file with {dims} dimension(s) (magic {magic:#x}); delete it")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if data.size != math.prod(shape):
        raise UserError(f"{path} is truncated: {data.size} values for shape {shape}; delete it")
    return data.reshape(shape)
