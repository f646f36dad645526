"""The README's set-up: exactly two commands, and each names things that exist."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT
from tests.support.readme import code_blocks, commands, section

SETUP = "Set up: two commands on a fresh machine"


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))


def test_readme_opens_with_what_and_why() -> None:
    text = (ROOT / "README.md").read_text()
    intro = text[: text.index("\n## ")]
    assert "Kubernetes operator for machine-learning training jobs" in intro
    assert "**Why**" in intro


def test_exactly_two_setup_commands() -> None:
    (block,) = code_blocks(SETUP)
    assert commands(block) == [
        "make venv && .venv/bin/kubetrain run examples/classification-iris.yaml",
        "make test",
    ]


def test_first_command_installs_and_runs_the_quickstart_on_the_embedded_store() -> None:
    (block,) = code_blocks(SETUP)
    install, run = commands(block)[0].split(" && ")
    assert install == "make venv" and "venv" in make_targets()
    argv = shlex.split(run)
    assert argv[:2] == [".venv/bin/kubetrain", "run"] and "--output" not in argv
    assert (ROOT / argv[2]).is_file()
    kubetrain = Path(sys.executable).parent / "kubetrain"
    help_text = subprocess.run(
        [str(kubetrain), "run", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "Usage: kubetrain run [OPTIONS] {manifest}" in help_text
    assert "artifacts to a local S3" in help_text
    assert "embedded SeaweedFS S3 store" in section(SETUP)


def test_second_command_is_what_ci_runs_and_runs_every_test() -> None:
    assert "test" in make_targets()
    makefile = (ROOT / "Makefile").read_text()

    def recipe(target: str) -> str:
        return makefile[makefile.index(f"\n{target}:") :].split("\n\n")[0]

    assert "check" in recipe("test") and "test-cluster" in recipe("test")
    assert "test-unit" in recipe("check")
    runs = recipe("test-unit") + recipe("test-cluster")
    # Every test: the unit tests in two halves (without and with Go-built tools), then the rest.
    assert '-m "not tools" tests/unit' in runs and "-m tools tests/unit" in runs
    assert "pytest tests/integration tests/e2e" in runs
    test_dirs = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and p.name != "support"}
    assert test_dirs - {"__pycache__"} == {"unit", "integration", "e2e"}
    ci = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd ", "export "))
    ]
    assert ci == ["make test"]


def test_documentation_links_exist() -> None:
    text = (ROOT / "README.md").read_text()
    for target in ("docs/api.md", "docs/operator.md", "docs/benchmarks.md", "docs/gitops.md"):
        assert f"]({target})" in text
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link
