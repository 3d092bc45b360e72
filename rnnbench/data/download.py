"""Dataset files that are not shipped: fetched once into the data folder, verified, then reused.

The rules (tested against a local HTTP server):
  - https only; plain http is accepted for loopback hosts alone (a local mirror, the tests);
  - the file is streamed to a temporary file beside its destination and hashed on the way; only a
    file whose SHA-256 (or, where no SHA-256 was ever published, MD5) matches the pinned value is
    renamed into place, so nothing half-written or wrong is ever left under the data folder;
  - a file already on disk is verified the same way before every use;
  - parallel jobs wanting the same file take an exclusive lock on ``<file>.lock``: one downloads,
    the others wait and then find it;
  - when no mirror answers (offline), the error names the file, where to put it and its checksum;
    ``RNNBENCH_OFFLINE=1`` skips the attempt (air-gapped machines; the test suite sets it).
Nothing downloaded is ever executed or unpickled.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rnnbench.errors import UserError

log = logging.getLogger("rnnbench")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """A file known by name, mirrors and checksum. Exactly one of sha256/md5 is pinned."""

    name: str
    urls: tuple[str, ...]
    sha256: str | None = None
    md5: str | None = None  # only for files whose publishers give no SHA-256 (documented per file)

    @property
    def algorithm(self) -> str:
        return "sha256" if self.sha256 else "md5"

    @property
    def digest(self) -> str:
        return self.sha256 or self.md5 or ""


def fetch(remote: RemoteFile, folder: Path, timeout: float = 60.0) -> Path:
    """The verified local copy of `remote` in `folder`, downloading it first if needed."""
    folder = Path(folder)
    target = folder / remote.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the data folder {folder}: {exc.strerror}; set data_dir to a writable folder"
        ) from None
    with _locked(folder / f".{remote.name}.lock"):
        if target.exists():
            _verify(target, remote, f"{target} is not the expected file")
            return target
        reasons = []
        for url in remote.urls:
            try:
                _download(url, target, remote, timeout)
                return target
            except _DownloadFailed as exc:
                reasons.append(f"{url}: {exc}")
                log.warning("download failed: %s: %s", url, exc)
        raise UserError(
            f"cannot download {remote.name} ({'; '.join(reasons)}); if this machine is offline, "
            f"place the file at {target} ({remote.algorithm} {remote.digest}) and run again"
        )


def check_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return
    raise UserError(f"refusing to download from {url}: only https URLs (or http on 127.0.0.1/localhost) are allowed")


class _DownloadFailed(Exception):
    pass


def _download(url: str, target: Path, remote: RemoteFile, timeout: float) -> None:
    check_url(url)
    if os.environ.get("RNNBENCH_OFFLINE") and urllib.parse.urlsplit(url).hostname not in LOOPBACK:
        raise _DownloadFailed("RNNBENCH_OFFLINE is set")
    log.info("downloading %s from %s", remote.name, url)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        digest = hashlib.new(remote.algorithm)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except urllib.error.URLError as exc:  # offline, DNS, refused, HTTP status
            raise _DownloadFailed(str(exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:  # cut connection, truncated body, timeout
            raise _DownloadFailed(f"{type(exc).__name__}: {exc}") from None
        if digest.hexdigest() != remote.digest:
            raise _DownloadFailed(
                f"{remote.algorithm} mismatch (got {digest.hexdigest()}, expected "
                f"{remote.digest}); the file was discarded"
            )
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, remote: RemoteFile, what: str) -> None:
    actual = file_digest(path, remote.algorithm)
    if actual != remote.digest:
        raise UserError(
            f"{what}: its {remote.algorithm} is {actual}, expected {remote.digest}; "
            "delete it to download it again, or replace it with the right file"
        )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
