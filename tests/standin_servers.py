"""Stand-in HTTP servers on 127.0.0.1 for the download tests: Kaggle's API and a plain file host.

The Kaggle stand-in answers what kaggle 2.x / kagglesdk send: every call is a POST of a JSON
request to `/api/v1/<Service>/<Method>` (a proxy sees the absolute URL), errors are JSON bodies
`{"code": ..., "message": ...}`, and DownloadDataset answers with a 302 to a GET that serves the
zip, as api.kaggle.com redirects to a signed storage URL.
"""

from __future__ import annotations

import base64
import email.utils
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

DOWNLOAD_PATH = "/api/v1/datasets.DatasetApiService/DownloadDataset"
INTROSPECT_PATH = "/api/v1/security.OAuthService/IntrospectToken"


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


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
