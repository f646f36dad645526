"""A Ray worker pod's SIGTERM: its shell writes the stop marker and keeps its Ray node until the
head stops the cluster, so the ranks on it can checkpoint.

The worker container's script runs here in a real `sh`, with `python` and `ray` stand-ins on
PATH that record what they were asked to do.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from kubetrain.api import TrainingJob, contract
from kubetrain.builders import pods
from kubetrain.builders.naming import JobRef
from kubetrain.config import OperatorConfig

EXAMPLES = Path(__file__).parents[3] / "examples"

FAKE_PYTHON = """#!/bin/sh
case "$1" in
  -c) [ -f "$STATE/head-up" ]; exit $? ;;
  *) echo "python $*" >> "$STATE/stop-calls" ;;
esac
"""
FAKE_RAY = """#!/bin/sh
echo "ray $*" > "$STATE/ray-started"
trap 'echo TERM >> "$STATE/ray-signals"' TERM
while [ ! -f "$STATE/head-gone" ]; do sleep 0.05; done
exit 1
"""


def worker_script() -> str:
    raw = yaml.safe_load((EXAMPLES / "tuning-wine.yaml").read_text())
    spec = TrainingJob.model_validate(raw).spec
    worker = pods.attempt_pods(JobRef("wine", "ns", "uid"), spec, 1, OperatorConfig())[1]
    command = worker["spec"]["containers"][0]["command"]
    assert command[:2] == ["sh", "-c"]
    return str(command[2])


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("python", FAKE_PYTHON), ("ray", FAKE_RAY)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def start(state: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PATH": f"{state / 'bin'}:{os.environ['PATH']}", "STATE": str(state)}
    return subprocess.Popen(["sh", "-c", worker_script()], env=env)


def test_sigterm_writes_the_stop_marker_and_keeps_ray_until_the_head_stops(state: Path) -> None:
    (state / "head-up").touch()
    shell = start(state)
    try:
        wait_until((state / "ray-started").exists, "the worker to join the head")
        assert "--block" in (state / "ray-started").read_text()

        shell.send_signal(signal.SIGTERM)
        wait_until((state / "stop-calls").exists, "the stop marker command")
        assert (state / "stop-calls").read_text().strip() == shlex.join(contract.STOP_COMMAND)
        time.sleep(0.5)
        assert shell.poll() is None, "the worker pod exited before its ranks could checkpoint"
        assert not (state / "ray-signals").exists(), "SIGTERM was forwarded to Ray"

        (state / "head-up").unlink()  # the head stops the cluster: the worker is done
        (state / "head-gone").touch()
        assert shell.wait(timeout=60) == 0
    finally:
        shell.kill()


def test_sigterm_before_the_head_is_up_writes_the_marker_and_never_starts_ray(state: Path) -> None:
    shell = start(state)
    try:
        time.sleep(0.3)
        shell.send_signal(signal.SIGTERM)
        assert shell.wait(timeout=60) == 0
        assert (state / "stop-calls").exists()
        assert not (state / "ray-started").exists()
    finally:
        shell.kill()
