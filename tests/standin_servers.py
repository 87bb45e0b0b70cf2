"""Servers on 127.0.0.1 for the tests: HTTP stand-ins, a real PostgreSQL, the programs they need.

The Kaggle stand-in answers what kaggle 2.x / kagglesdk send: every call is a POST of a JSON
request to `/api/v1/<Service>/<Method>` (a proxy sees the absolute URL), errors are JSON bodies
`{"code": ..., "message": ...}`, and DownloadDataset answers with a 302 to a GET that serves the
zip, as api.kaggle.com redirects to a signed storage URL.

`PostgresServer` is Debian's real PostgreSQL in a scratch folder. `program()` finds an installed
program a test needs (Chromium, PostgreSQL): a missing one skips the test, or fails it when
CNNZOO_REQUIRE_SERVERS=1, which .ci/run sets after installing them, so CI never skips silently.
"""

from __future__ import annotations

import base64
import email.utils
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import pytest

DOWNLOAD_PATH = "/api/v1/datasets.DatasetApiService/DownloadDataset"
INTROSPECT_PATH = "/api/v1/security.OAuthService/IntrospectToken"


T = TypeVar("T")
REQUIRE_SERVERS = "CNNZOO_REQUIRE_SERVERS"  # "1": a missing program fails the test (CI)
BY_CI = ".ci/run installs it"


def program(name: str, found: T | None, hint: str) -> T:
    """`found` (how to run a program); if None, skip the test, or fail it when REQUIRE_SERVERS=1.

    `hint` says how to get the program, e.g. "as root: apt-get install -y chromium".
    """
    if found:
        return found
    reason = f"{name} is not available ({hint})"
    if os.environ.get(REQUIRE_SERVERS) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_SERVERS}=1 requires it", pytrace=False)
    pytest.skip(reason)


def chromium() -> str:
    """The headless browser: Debian's chromium."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return program("Chromium", found, f"as root: apt-get install -y chromium; {BY_CI}")


def postgres_bin_dir() -> Path:
    """The folder of PostgreSQL's server programs: on PATH, else Debian's /usr/lib/postgresql/N/bin
    (the newest N), where Debian's `postgresql` package puts them, off PATH."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).parent] if on_path else []
    debian = [Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin")]
    debian = [d for d in debian if d.parent.name.isdigit()]
    candidates += sorted(debian, key=lambda d: int(d.parent.name), reverse=True)
    found = next(
        (d for d in candidates if (d / "pg_ctl").exists() and (d / "createdb").exists()), None
    )
    hint = f"as root: apt-get install -y postgresql; {BY_CI}"
    return Path(program("PostgreSQL", found and str(found), hint))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{free_port()}"


class PostgresServer:
    """A real PostgreSQL server on 127.0.0.1 at a free port, its data in a scratch folder.

    PostgreSQL refuses to run as root, so under root (CI) it runs as the unprivileged account
    `nobody` (`runuser`), which owns the folder. Local connections are trusted (no password);
    the server listens on loopback only.
    """

    USER = "cnnzoo"  # the database superuser initdb creates

    def __init__(self, account: str = "nobody") -> None:
        self.bin = postgres_bin_dir()
        self._as = ["runuser", "-u", account, "--"] if os.geteuid() == 0 else []
        self.folder = Path(tempfile.mkdtemp(prefix="cnnzoo-postgres-"))
        if self._as:
            entry = pwd.getpwnam(account)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.data = self.folder / "data"
        self.port = 0

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [*self._as, str(self.bin / program), *args],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{result.stderr}\n{tail}")

    def __enter__(self) -> PostgresServer:
        try:
            self._run("initdb", "-D", str(self.data), "-U", self.USER, "--auth=trust",
                      "--encoding=UTF8", "--locale=C", "--no-sync")  # fmt: skip
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self, attempts: int = 3) -> None:
        for attempt in range(attempts):  # the free port may be taken before the server binds it
            self.port = free_port()
            options = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
            try:
                self._run("pg_ctl", "start", "-D", str(self.data), "-w", "-t", "60",
                          "-l", str(self.folder / "server.log"), "-o", options)  # fmt: skip
                return
            except RuntimeError:
                if attempt == attempts - 1:
                    raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def database(self, name: str) -> str:
        """Create the database `name`; its URL, as `cnnzoo sweep --storage` takes it."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, name)
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{name}"

    def drop_connections(self, database: str) -> None:
        """Close every client connection to `database`, as a server restart or a network cut."""
        query = (
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        )
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER,
                  "-d", "postgres", "-qAt", "-c", query)  # fmt: skip

    def close(self) -> None:
        """Stop the server at once and delete its data."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        shutil.rmtree(self.folder, ignore_errors=True)


class _Server:
    """A threaded loopback HTTP server that records what it was asked."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                owner._record(self, None)
                owner.handle_get(self, urlsplit(self.path).path)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                owner._record(self, body)
                owner.handle_post(self, urlsplit(self.path).path, body)

        self.requests: list[dict] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:40123."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _record(self, handler: BaseHTTPRequestHandler, body: dict | None) -> None:
        self.requests.append(
            {
                "method": handler.command,
                "path": urlsplit(handler.path).path,
                "target": handler.path,
                "authorization": handler.headers.get("Authorization"),
                "body": body,
            }
        )

    def paths(self, method: str) -> list[str]:
        """Paths of the recorded requests with this method."""
        return [r["path"] for r in self.requests if r["method"] == method]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and free the port."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def handle_get(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        _send(handler, 404, b"not found", "text/plain")

    def handle_post(self, handler: BaseHTTPRequestHandler, path: str, body: dict) -> None:
        _send(handler, 404, b"not found", "text/plain")


def _send(handler: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _send_json(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
    _send(handler, status, json.dumps(payload).encode(), "application/json")


class FileServer(_Server):
    """Serves fixed bytes at fixed paths (GET), like a plain download mirror.

    `cut_after[path] = n` announces the whole file (Content-Length) but closes the connection
    after its first n bytes, as a server that dies mid-transfer does.
    """

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__()
        self.files = files
        self.cut_after: dict[str, int] = {}

    def handle_get(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        if path not in self.files:
            _send(handler, 404, b"not found", "text/plain")
        elif path in self.cut_after:
            data = self.files[path]
            handler.send_response(200)
            handler.send_header("Content-Type", "application/octet-stream")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data[: self.cut_after[path]])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
        else:
            _send(handler, 200, self.files[path], "application/octet-stream")


class KaggleStandIn(_Server):
    """Kaggle's public API for one account: dataset downloads and access-token introspection."""

    def __init__(
        self,
        datasets: dict[str, bytes],
        username: str = "tester",
        key: str = "secret-key",
        token: str = "KGAT_stand_in_token",
    ) -> None:
        super().__init__()
        self.datasets = datasets
        self.username = username
        basic = base64.b64encode(f"{username}:{key}".encode()).decode()
        self._accepted = {f"Basic {basic}", f"Bearer {token}"}
        self._token = token
        self.forbidden = False  # answer 403 to an authenticated download
        self.stall_after: int | None = None  # bytes of the zip to send before stalling
        self.stalled = threading.Event()
        self.release = threading.Event()

    def close(self) -> None:
        """Let a stalled transfer end, then stop."""
        self.release.set()
        super().close()

    def handle_post(self, handler: BaseHTTPRequestHandler, path: str, body: dict) -> None:
        if path == INTROSPECT_PATH:
            active = body.get("token") == self._token
            _send_json(handler, 200, {"active": active, "username": self.username * active})
            return
        if path != DOWNLOAD_PATH:
            _send_json(handler, 404, {"code": 404, "message": f"No method {path}"})
            return
        if handler.headers.get("Authorization") not in self._accepted:
            _send_json(handler, 401, {"code": 401, "message": "Unauthenticated"})
            return
        if self.forbidden:
            _send_json(handler, 403, {"code": 403, "message": "Permission denied"})
            return
        ref = f"{body.get('ownerSlug')}/{body.get('datasetSlug')}"
        if ref not in self.datasets:
            _send_json(handler, 404, {"code": 404, "message": "Not found"})
            return
        handler.send_response(302)
        handler.send_header("Location", f"/storage/{ref}.zip?X-Goog-Signature=stand-in")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def handle_get(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        ref = path.removeprefix("/storage/").removesuffix(".zip")
        if not path.startswith("/storage/") or ref not in self.datasets:
            _send(handler, 404, b"<Error>NoSuchKey</Error>", "application/xml")
            return
        data = self.datasets[ref]
        handler.send_response(200)
        handler.send_header("Content-Type", "application/zip")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Last-Modified", email.utils.formatdate(usegmt=True))
        handler.end_headers()
        if self.stall_after is None:
            handler.wfile.write(data)
            return
        handler.wfile.write(data[: self.stall_after])
        handler.wfile.flush()
        self.stalled.set()
        self.release.wait(timeout=60)
