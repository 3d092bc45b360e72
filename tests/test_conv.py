"""ConvLSTM/ConvGRU against the ordinary cells, the encoder-forecaster, SSIM, and moving shapes."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import nn

from rnnbench.data.metrics import ssim
from rnnbench.data.moving_shapes import MovingShapesTask, as_logits
from rnnbench.data.task import InputSpec
from rnnbench.errors import ConfigError
from rnnbench.models.conv_cells import ConvGRUCell, ConvLSTMCell
from rnnbench.models.encoder_forecaster import EncoderForecaster
from rnnbench.models.recurrent import Recurrent, run_cell

PAIRS = [(ConvLSTMCell, nn.LSTM), (ConvGRUCell, nn.GRU)]


@pytest.mark.parametrize("conv_cell, reference", PAIRS)
def test_1x1_kernel_on_1x1_image_equals_the_ordinary_cell(conv_cell, reference):
    """Same weights (reshaped), same sequence: the conv cell on (B, T, I, 1, 1) equals torch.nn."""
    torch.manual_seed(0)
    I, H, B, T = 3, 5, 4, 7
    cell = conv_cell(I, H, kernel_size=1)
    ref = reference(I, H, batch_first=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, f"{name}_l0").copy_(getattr(cell, name).reshape(getattr(ref, f"{name}_l0").shape))
    x = torch.randn(B, T, I)
    y_conv, _ = run_cell(cell, x[..., None, None])
    y_ref, _ = ref(x)
    assert y_conv.shape == (B, T, H, 1, 1)
    torch.testing.assert_close(y_conv[..., 0, 0], y_ref, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("conv_cell, reference", PAIRS)
def test_kxk_kernel_at_every_pixel_is_the_cell_on_the_neighbourhood(conv_cell, reference):
    """A k×k kernel is the ordinary cell whose input at a pixel is its flattened zero-padded
    neighbourhood: check the first step at an interior and a corner pixel."""
    torch.manual_seed(1)
    I, H, k = 2, 3, 3
    cell = conv_cell(I, H, kernel_size=k)
    x = torch.randn(1, 1, I, 5, 5)
    y, _ = run_cell(cell, x)
    ref = reference(I * k * k, H, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(cell.weight_ih.flatten(1))
        ref.bias_ih_l0.copy_(cell.bias_ih)
        ref.bias_hh_l0.copy_(cell.bias_hh)
        ref.weight_hh_l0.zero_()  # h_0 = 0: W_hh only adds its bias at the first step
    padded = torch.nn.functional.pad(x[0, 0], (1, 1, 1, 1))
    for row, col in ((2, 3), (0, 0)):
        patch = padded[:, row : row + k, col : col + k].reshape(1, 1, -1)
        expected, _ = ref(patch)
        torch.testing.assert_close(y[0, 0, :, row, col], expected[0, 0], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("conv_cell, gates", [(ConvLSTMCell, 4), (ConvGRUCell, 3)])
def test_parameter_count_formula(conv_cell, gates):
    I, H, k = 2, 6, 5
    cell = conv_cell(I, H, kernel_size=k)
    assert sum(p.numel() for p in cell.parameters()) == gates * H * k * k * (I + H) + 2 * gates * H


def test_convgru_is_three_quarters_of_convlstm():
    lstm, gru = ConvLSTMCell(1, 16, 3), ConvGRUCell(1, 16, 3)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(gru) * 4 == count(lstm) * 3


@pytest.mark.parametrize("kernel", [0, 2, 4, -1, 1.5])
def test_kernel_size_is_checked(kernel):
    with pytest.raises(ConfigError, match="kernel_size"):
        ConvLSTMCell(1, 4, kernel_size=kernel)


@pytest.mark.parametrize("conv_cell", [ConvLSTMCell, ConvGRUCell])
def test_encoder_forecaster_shapes_and_gradients(conv_cell):
    torch.manual_seed(0)
    model = EncoderForecaster(
        functools.partial(conv_cell, kernel_size=3),
        InputSpec("frames", 1, (6, 6)),
        1,
        horizon=3,
        hidden_size=4,
        num_layers=2,
    ).double()
    x = torch.rand(2, 4, 1, 6, 6, dtype=torch.float64)
    pred, state = model(x)
    assert pred.shape == (2, 3, 1, 6, 6) and state is None
    pred.sum().backward()
    assert all(
        p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in model.parameters()
    )
    # autograd through the convolutional recurrence against finite differences, on the input
    x_small = torch.rand(1, 2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: model(v)[0], (x_small,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_encoder_forecaster_runs_the_conv_cells_in_recurrent_stacks():
    model = EncoderForecaster(
        functools.partial(ConvGRUCell, kernel_size=3),
        InputSpec("frames", 1, (4, 4)),
        1,
        horizon=2,
        hidden_size=3,
        num_layers=2,
    )
    assert isinstance(model.encoder, Recurrent) and model.encoder.impl == "reference"
    assert len(model.encoder.layers) == 2 and model.describe()["horizon"] == 2


def test_ssim_known_values():
    torch.manual_seed(0)
    x = torch.rand(3, 1, 16, 16)
    torch.testing.assert_close(ssim(x, x), torch.ones(3))
    y = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    torch.testing.assert_close(ssim(x, y), ssim(y, x))
    assert (ssim(x, y) < 0.95).all()
    # constant images a, b: σ = 0, so SSIM = (2ab + C1) / (a² + b² + C1) exactly
    a, b, c1 = 0.3, 0.7, 0.01**2
    got = ssim(torch.full((1, 1, 12, 12), a, dtype=torch.float64), torch.full((1, 1, 12, 12), b, dtype=torch.float64))
    assert got.item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-9)


def test_ssim_on_images_smaller_than_the_window():
    x = torch.rand(2, 1, 6, 6)
    assert ssim(x, x).shape == (2,) and torch.allclose(ssim(x, x), torch.ones(2))


def small_task(**kw) -> MovingShapesTask:
    options = dict(
        size=16, input_frames=4, output_frames=3, min_size=3, max_size=6, n_train=64, n_val=16, n_test=16, seed=0
    )
    return MovingShapesTask(**{**options, **kw})


def test_moving_shapes_layout_and_determinism():
    task = small_task()
    data = task.splits()
    assert data["train"].x.shape == (64, 4, 1, 16, 16) and data["train"].y.shape == (64, 3, 1, 16, 16)
    assert set(data["train"].x.unique().tolist()) <= {0.0, 1.0}
    again = small_task().splits()
    assert torch.equal(data["test"].x, again["test"].x)
    assert not torch.equal(data["test"].x, small_task(seed=1).splits()["test"].x)
    assert task.sample_len == 7 and task.model_args()["horizon"] == 3


@pytest.mark.parametrize("shape", ["square", "disc", "digit"])
def test_a_single_shape_stays_whole_in_every_frame(shape):
    """One shape bouncing at up to 5 px/frame for 30 frames is never cut by the border: its pixel
    count is the same in every frame (a square of side s covers exactly s² pixels), and it
    reaches the walls."""
    task = small_task(n_shapes=1, shapes=[shape], input_frames=10, output_frames=20, min_speed=3.0, max_speed=5.0)
    frames = torch.cat([task.splits()["train"].x, task.splits()["train"].y], dim=1)  # (N, 30, 1, 16, 16)
    counts = frames.sum(dim=(2, 3, 4))
    assert (counts > 0).all() and ((counts - counts[:, :1]) == 0).all()
    if shape == "square":
        assert all(math.isqrt(int(c)) ** 2 == int(c) for c in counts[:, 0])
    assert frames[..., 0, :].sum() > 0 and frames[..., -1].sum() > 0


def test_moving_shapes_moves_and_bounces():
    task = small_task(n_shapes=1, shapes=["square"], input_frames=15, output_frames=15, min_speed=2.0, max_speed=2.0)
    x = task.splits()["train"].x
    assert not torch.equal(x[:, 0], x[:, 1])  # it moves
    rows = torch.arange(16.0)
    centre = (x[:, :, 0].sum(dim=3) * rows).sum(dim=2) / x[:, :, 0].sum(dim=(2, 3))  # (N, T) row centre
    step = centre.diff(dim=1)
    assert ((step[:, 1:] * step[:, :-1]) < 0).any()  # the vertical motion reverses somewhere: a bounce


def test_moving_shapes_baselines():
    task = small_task()
    test = task.splits()["test"]
    copy = task.baseline("test")
    expected = ((test.x[:, -1:] - test.y) ** 2).mean().item()
    assert copy["mse"] == pytest.approx(expected, abs=1e-6)
    perfect = task.score(as_logits(test.y), test.y)
    assert perfect["mse"] < 1e-7 and perfect["ssim"] == pytest.approx(1.0, abs=1e-4)
    assert set(task.baselines("test")) == {"copy last frame", "mean frame"}


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(size=2), "size"),
        (dict(max_size=16), "max_size"),
        (dict(min_size=7, max_size=5), "max_size"),
        (dict(shapes=["triangle"]), "shapes"),
        (dict(shapes=[]), "shapes"),
        (dict(output_frames=0), "output_frames"),
        (dict(loss="l1"), "loss"),
        (dict(min_speed=-1.0), "min_speed"),
    ],
)
def test_moving_shapes_bad_options(bad, match):
    with pytest.raises(ConfigError, match=match):
        small_task(**bad)
