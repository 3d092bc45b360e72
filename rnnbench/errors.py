"""User-facing errors and the argument checks that raise them.

Anything a user can get wrong (a config value, a path, a file) raises `UserError`; the CLI prints
its message as one line and exits non-zero. Anything else is a bug and keeps its traceback.
Constructors check their own arguments with the helpers below, so every model, task and trainer
validates the same way whether it is built from YAML or from Python.
"""

from __future__ import annotations

import errno
import math
import re
from collections.abc import Iterable
from typing import Any


class UserError(Exception):
    """A problem the user can fix; its message is printed as one line."""


class ConfigError(UserError):
    """A bad config value. `key` is relative to the object that checked it (e.g. ``seq_len``);
    `prefix` adds where that object sits in the config (e.g. ``dataset``)."""

    def __init__(self, key: str, problem: str, value: Any = None, show_value: bool = True):
        self.key, self.problem, self.value, self.show_value = key, problem, value, show_value
        super().__init__(self._text(key))

    def _text(self, key: str) -> str:
        got = f", got {self.value!r}" if self.show_value else ""
        return f"{key} {self.problem}{got}"

    def prefixed(self, prefix: str) -> ConfigError:
        return ConfigError(f"{prefix}.{self.key}", self.problem, self.value, self.show_value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(key: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An integer in [low, high] (either bound optional)."""
    if not _is_int(value) or (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(key, "must be an integer" + _range_text(low, high), value)
    return value


def check_float(
    key: str, value: Any, low: float | None = None, high: float | None = None, low_open: bool = False
) -> float:
    """A finite real number in [low, high]; `low_open` makes the lower bound strict (> low)."""
    ok = (_is_int(value) or isinstance(value, float)) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        raise ConfigError(key, "must be a number" + _range_text(low, high, low_open), value)
    return float(value)


MAX_SEED = 2**63 - 1  # what torch.manual_seed and numpy's SeedSequence both take
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def check_name(key: str, value: Any) -> str:
    """A model's or a dataset's name: it names run folders and report files, so no '/' or spaces."""
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ConfigError(
            key, "must be a name of letters, digits and _ . + - (it names run folders and report files)", value
        )
    return value


def check_choice(key: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(key, "must be one of " + ", ".join(map(str, allowed)), value)
    return value


def check_fractions(key: str, value: Any, count: int) -> tuple[float, ...]:
    """`count` fractions in (0, 1) that sum to 1 (a train/val/test split)."""
    values = tuple(value) if isinstance(value, Iterable) and not isinstance(value, (str, bytes)) else ()
    if (
        len(values) != count
        or not all((_is_int(v) or isinstance(v, float)) and 0 < v < 1 for v in values)
        or abs(sum(values) - 1) > 1e-6
    ):
        raise ConfigError(key, f"must be {count} fractions in (0, 1) that sum to 1, e.g. [0.8, 0.1, 0.1]", value)
    return tuple(float(v) for v in values)


def _range_text(low: float | None, high: float | None, low_open: bool = False) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}]"
    if low is not None:
        return f" {'>' if low_open else '≥'} {low}"
    if high is not None:
        return f" ≤ {high}"
    return ""


def cannot_write(exc: OSError, option: str = "output_root=DIR (or hydra.run.dir=DIR)") -> UserError:
    """One line for a folder or file that cannot be written: where, why, and the `option` that
    chooses another place."""
    if exc.errno == errno.ENOSPC:
        return UserError(
            f"cannot write to {exc.filename}: the disk is full (no space left on device); free some "
            f"space, or choose a folder on another disk with {option}"
        )
    return UserError(
        f"cannot write to {exc.filename}: {(exc.strerror or str(exc)).lower()}; choose a writable folder with {option}"
    )


UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.ENOSPC, errno.EEXIST, errno.EDQUOT}


class AbortJob(BaseException):
    """Carries a `UserError` out of a Hydra job. Hydra catches `Exception` around a job and adds
    its own report; a BaseException passes straight through to the CLI, which prints one line."""

    def __init__(self, error: UserError):
        super().__init__(str(error))
        self.error = error
