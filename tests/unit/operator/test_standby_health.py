"""A standby replica answers its liveness probe, then frees the port for kopf."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest

from kubetrain.leader import standby_health


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_standby_is_healthy_and_releases_the_port() -> None:
    port = free_port()
    with standby_health(port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200
            assert b"standby" in resp.read()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
        assert err.value.code == 404
    with socket.socket() as sock:  # what kopf's liveness endpoint does next
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
