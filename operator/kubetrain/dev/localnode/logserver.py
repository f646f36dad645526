"""The kubelet's HTTPS endpoint for container logs, so that `kubectl logs` works.

The API server proxies `kubectl logs` to `https://<node InternalIP>:<kubelet port>/
containerLogs/<namespace>/<pod>/<container>` with its kubelet client certificate; only clients
with a certificate from the cluster CA are served.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from kubetrain.dev import logs


def _tail(data: bytes, lines: int) -> bytes:
    if lines < 0:
        return data
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:]) if lines else b""


def make_handler(state_dir: Path, stopping: Callable[[], bool]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            url = urlparse(self.path)
            parts = url.path.strip("/").split("/")
            if parts == ["healthz"]:
                self._send(200, b"ok")
                return
            if len(parts) != 4 or parts[0] != "containerLogs":
                self._send(404, b"not found")
                return
            _, namespace, pod, container = parts
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                source = logs.find(
                    state_dir, namespace, pod, container, previous=query.get("previous") == "true"
                )
            except logs.LogNotFound as exc:
                self._send(404, str(exc).encode())
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            with source.path.open("rb") as fh:
                self.wfile.write(_tail(fh.read(), int(query.get("tailLines", "-1"))))
                if query.get("follow") != "true":
                    return
                while source.running() and not stopping():
                    chunk = fh.read(65536)
                    if chunk:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    else:
                        time.sleep(0.3)
                self.wfile.write(fh.read())

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def serve(
    state_dir: Path,
    port: int,
    cert: Path,
    key: Path,
    client_ca: Path,
    stopping: Callable[[], bool],
) -> ThreadingHTTPServer:
    """Start serving logs on 127.0.0.1:`port` in a daemon thread."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    context.load_verify_locations(str(client_ca))
    context.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(state_dir, stopping))
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name="logs", daemon=True).start()
    return server
