"""The downloader against a local HTTP server on 127.0.0.1: good file, wrong checksum, truncated
body, server gone (offline), http to a remote host, a corrupted cached file, parallel fetches."""

from __future__ import annotations

import hashlib
import http.server
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rnnbench.data.download import RemoteFile, check_url, fetch
from rnnbench.errors import UserError

PAYLOAD = b"rnnbench fixture\n" * 1000
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):
        Handler.requests.append(self.path)
        body = PAYLOAD
        length = len(body)
        if self.path == "/truncated.bin":
            body = PAYLOAD[:100]  # promises the whole file, sends 100 bytes, hangs up
        elif self.path == "/missing.bin":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def test_a_good_file_is_downloaded_verified_and_then_reused(server, tmp_path):
    Handler.requests.clear()
    remote = RemoteFile("good.bin", (f"{server}/good.bin",), sha256=SHA)
    path = fetch(remote, tmp_path)
    assert path.read_bytes() == PAYLOAD and leftovers(tmp_path) == ["good.bin"]
    assert fetch(remote, tmp_path) == path
    assert Handler.requests == ["/good.bin"]  # the second call used the verified copy


def test_md5_pinned_files_are_verified_too(server, tmp_path):
    remote = RemoteFile("good.bin", (f"{server}/good.bin",), md5=hashlib.md5(PAYLOAD).hexdigest())
    assert fetch(remote, tmp_path).read_bytes() == PAYLOAD


def test_a_checksum_mismatch_keeps_nothing(server, tmp_path):
    remote = RemoteFile("good.bin", (f"{server}/good.bin",), sha256="0" * 64)
    with pytest.raises(UserError, match=r"sha256 mismatch .* discarded.*place the file at .*good.bin \(sha256 0{64}\)"):
        fetch(remote, tmp_path)
    assert leftovers(tmp_path) == []


def test_a_truncated_download_keeps_nothing(server, tmp_path):
    remote = RemoteFile("t.bin", (f"{server}/truncated.bin",), sha256=SHA)
    with pytest.raises(UserError, match="cannot download t.bin"):
        fetch(remote, tmp_path)
    assert leftovers(tmp_path) == []


def test_the_next_mirror_is_tried_after_a_failure(server, tmp_path):
    remote = RemoteFile("good.bin", (f"{server}/missing.bin", f"{server}/good.bin"), sha256=SHA)
    assert fetch(remote, tmp_path).read_bytes() == PAYLOAD


def test_offline_names_the_file_the_place_and_the_checksum(tmp_path):
    remote = RemoteFile("data.bin", ("http://127.0.0.1:9/data.bin",), sha256=SHA)  # port 9: nothing listens
    with pytest.raises(UserError) as error:
        fetch(remote, tmp_path)
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "data.bin") in message and SHA in message
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("url", ["http://example.com/x.bin", "ftp://example.com/x.bin", "file:///etc/passwd"])
def test_only_https_or_loopback_http_is_allowed(url):
    with pytest.raises(UserError, match="only https"):
        check_url(url)
    check_url("https://example.com/x.bin")
    check_url("http://127.0.0.1:8000/x.bin")


def test_a_corrupted_cached_file_is_refused(server, tmp_path):
    (tmp_path / "good.bin").write_bytes(b"not it")
    with pytest.raises(UserError, match="not the expected file.*delete it"):
        fetch(RemoteFile("good.bin", (f"{server}/good.bin",), sha256=SHA), tmp_path)


def test_parallel_fetches_download_once(server, tmp_path):
    Handler.requests.clear()
    remote = RemoteFile("good.bin", (f"{server}/good.bin",), sha256=SHA)
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: fetch(remote, tmp_path), range(4)))
    assert len(set(paths)) == 1 and paths[0].read_bytes() == PAYLOAD
    assert Handler.requests == ["/good.bin"]


def test_tests_cannot_reach_the_internet():
    import socket

    with pytest.raises(OSError, match="must not use the network"):
        socket.create_connection(("93.184.216.34", 443), timeout=1)


def test_rnnbench_offline_skips_remote_hosts_but_not_loopback(server, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNBENCH_OFFLINE", "1")
    with pytest.raises(UserError, match="RNNBENCH_OFFLINE is set"):
        fetch(RemoteFile("x.bin", ("https://example.com/x.bin",), sha256=SHA), tmp_path)
    assert fetch(RemoteFile("good.bin", (f"{server}/good.bin",), sha256=SHA), tmp_path).exists()
