"""Local dataset files: the ones shipped with rnnbench, user files, and reading them with clear
errors.

Shipped files live in the repository's ``datasets/`` folder (a wheel carries them inside the
package as ``rnnbench/datasets``); a copy in the run's data folder (``data_dir``) takes precedence.
Each is verified against the SHA-256 pinned in code before use.

Relative paths in configs (``data_dir``, ``dataset.path``, ``dataset.corpus``) resolve against the
directory `rnnbench` was started from: rnnbench keeps Hydra from changing the working directory
(``hydra.job.chdir`` is false), so a path means the same thing in a single run and in a sweep.
"""

from __future__ import annotations

from pathlib import Path

from rnnbench.data.download import file_digest
from rnnbench.errors import UserError

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def bundled(name: str, sha256: str, data_dir: str | Path) -> Path:
    """A file shipped with rnnbench: `data_dir/name` if present, else the shipped copy; verified."""
    candidates = [Path(data_dir) / name, PACKAGE_DIR / "datasets" / name, PACKAGE_DIR.parent / "datasets" / name]
    for path in candidates:
        if path.is_file():
            actual = file_digest(path)
            if actual != sha256:
                raise UserError(
                    f"{path} is not the file rnnbench ships: its sha256 is {actual}, expected {sha256}; "
                    "restore it (git checkout datasets/) or remove it"
                )
            return path
    raise UserError(
        f"{name} is missing: looked in {', '.join(map(str, candidates))}; "
        "restore datasets/ from the repository or reinstall rnnbench"
    )


def user_file(path: str | Path, key: str) -> Path:
    """A file named by the user in config key `key`; it must exist and be non-empty."""
    resolved = Path(path).expanduser()
    if resolved.is_dir():
        raise UserError(f"{key}: {path} is a folder; give the path of a file in it")
    if not resolved.is_file():
        where = "" if resolved.is_absolute() else f" (relative to {Path.cwd()})"
        raise UserError(f"{key}: no file at {path}{where}; give the path of an existing file")
    if resolved.stat().st_size == 0:
        raise UserError(f"{key}: {path} is empty")
    return resolved


def read_text(path: Path, key: str) -> str:
    """A UTF-8 text file's contents (without a byte-order mark); binary or non-UTF-8 files are
    refused with the byte offset."""
    raw = path.read_bytes()
    if not raw.strip():
        raise UserError(f"{key}: {path} is empty")
    if b"\0" in raw[: 1 << 16]:
        raise UserError(f"{key}: {path} looks binary (it contains NUL bytes); give a UTF-8 text file")
    try:
        return raw.decode("utf-8-sig")  # a byte-order mark is not text (it would become a token)
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{key}: {path} is not UTF-8 (invalid byte at offset {exc.start}); "
            "convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None
