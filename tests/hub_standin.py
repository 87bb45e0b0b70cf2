"""A stand-in for the Hugging Face Hub's file endpoints on 127.0.0.1 (what hf_hub_download uses)."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubStandIn:
    """Serve a folder as the `main` revision of repository `repo_id`: HEAD and GET on
    /{repo_id}/resolve/main/{file}, with the commit, ETag and size headers huggingface_hub reads;
    a missing file is a 404 with `X-Error-Code: EntryNotFound`, as on the Hub."""

    def __init__(self, repo_id: str, folder: Path) -> None:
        self.repo_id = repo_id
        self.files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        self.requests: list[tuple[str, str]] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                standin._answer(self, body=False)

            def do_GET(self) -> None:
                standin._answer(self, body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def downloaded(self) -> list[str]:
        """The file names fetched with GET."""
        return [path.rsplit("/", 1)[-1] for method, path in self.requests if method == "GET"]

    def _answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        self.requests.append((handler.command, handler.path))
        prefix = f"/{self.repo_id}/resolve/main/"
        name = handler.path.split("?")[0].removeprefix(prefix)
        data = self.files.get(name) if handler.path.startswith(prefix) else None
        if data is None:
            handler.send_response(404)
            handler.send_header("X-Error-Code", "EntryNotFound")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("X-Repo-Commit", COMMIT)
        handler.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Content-Type", "application/octet-stream")
        handler.end_headers()
        if body:
            handler.wfile.write(data)
