"""An S3 endpoint that can go down: a TCP proxy in front of the dev cluster's SeaweedFS.

A job whose store endpoint is the proxy's sees a real outage when the proxy is down: open
connections are cut and new ones are closed at once (connection reset), exactly what a client
sees of a store that went away, while SeaweedFS itself, shared by every test, keeps running.
The proxy reads the request line of each plain-HTTP request that passes, so a test can take
the store down at a precise moment: "on the first PUT of a key ending in `model/model.json`".
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_REQUEST = re.compile(rb"^(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP/1\.[01]\r\n")


@dataclass
class Outage:
    """Take the store down for `seconds` when a request matches `when` (method, path)."""

    when: Callable[[str, str], bool]
    seconds: float
    began: float | None = None
    trigger: str | None = None


@dataclass
class S3Outages:
    """The proxy: `endpoint` to give a job; `requests` seen (method, path), in order."""

    upstream: tuple[str, int]
    outages: list[Outage] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    refused: int = 0
    _down_until: float = 0.0
    _open: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None

    @property
    def endpoint(self) -> str:
        assert self._listener is not None
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> S3Outages:
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self._cut()

    def down(self) -> bool:
        return time.monotonic() < self._down_until

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.down():
                self.refused += 1
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._open |= {client, server}
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and (match := _REQUEST.match(data)):
                    self._saw(match.group(1).decode(), match.group(2).decode())
                    if self.down():
                        break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                self._close(sock)

    def _saw(self, method: str, path: str) -> None:
        self.requests.append((method, path))
        for outage in self.outages:
            if outage.began is None and outage.when(method, path):
                outage.began, outage.trigger = time.monotonic(), f"{method} {path}"
                self._down_until = outage.began + outage.seconds
                self._cut()

    def _cut(self) -> None:
        with self._lock:
            open_now, self._open = list(self._open), set()
        for sock in open_now:
            self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
