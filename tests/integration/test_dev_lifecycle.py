"""`kubetrain dev up` is idempotent and `down` leaves nothing running — on a second cluster of
its own (other ports, other state directory) so that the shared one keeps serving tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml
from pydantic.alias_generators import to_camel

from kubetrain.dev import cluster, config
from kubetrain.dev.layout import Layout
from kubetrain.dev.processes import Supervisor

OFFSET = 1000


def kubetrain(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "kubetrain"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline[:120]}")
    return found


def test_up_is_idempotent_and_down_leaves_nothing_running(tmp_path: Path) -> None:
    defaults = config.Ports()
    ports = {k: v + OFFSET for k, v in defaults.all().items()}
    cfg_file = tmp_path / "dev.yaml"
    state = tmp_path / "state"
    cfg_file.write_text(
        yaml.safe_dump(
            {
                "stateDir": str(state),
                "ports": {to_camel(k): v for k, v in ports.items()},
                "pools": [{"name": "cpu-general", "nodes": 1}],
                "s3": {"secretNamespaces": ["default"]},
            }
        )
    )
    env = {**os.environ}
    env.pop("KUBECONFIG", None)

    try:
        check_up_twice_then_down(cfg_file, state, ports, env)
    finally:
        kubetrain("dev", "down", "--config", str(cfg_file), env=env)


def check_up_twice_then_down(
    cfg_file: Path, state: Path, ports: dict[str, int], env: dict[str, str]
) -> None:
    first = kubetrain("dev", "up", "--config", str(cfg_file), env=env)
    assert first.returncode == 0, first.stderr
    assert f"kubeconfig:  {state / 'kubeconfig'}" in first.stdout
    pids = {t.name: t.pid for t in Supervisor(Layout(state).run, Layout(state).logs).tracked()}
    assert set(pids) == set(cluster.COMPONENTS)

    started = time.monotonic()
    second = kubetrain("dev", "up", "--config", str(cfg_file), env=env)
    assert second.returncode == 0, second.stderr
    assert time.monotonic() - started < 60
    again = {t.name: t.pid for t in Supervisor(Layout(state).run, Layout(state).logs).tracked()}
    assert again == pids, "a second `up` must reuse what runs"

    report = json.loads(
        kubetrain("dev", "status", "--json", "--config", str(cfg_file), env=env).stdout
    )
    assert report["running"] is True

    stopped = kubetrain("dev", "down", "--config", str(cfg_file), env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert processes_mentioning(str(state)) == []
    assert [p for p in ports.values() if listening(p)] == []
    after = kubetrain("dev", "status", "--config", str(cfg_file), env=env)
    assert after.returncode == 1
