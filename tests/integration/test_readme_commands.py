"""The README's cluster commands, run as written against the dev cluster.

`kubectl get tj -w` watches forever; the test waits for what a reader would watch for
(the job Succeeded) instead. The real-cluster install is rendered with `helm template`
(same chart, same values), since this machine has no real cluster to install it into.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from tests.support import ROOT
from tests.support.cluster import DevCluster
from tests.support.readme import code_blocks, commands
from tests.support.tools import k8s_dir

WATCH = "kubectl get tj -w"
WAIT = "kubectl wait --for=jsonpath='{.status.phase}'=Succeeded tj/iris-forest --timeout=900s"


def bash(script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def clean_after(dev_cluster: DevCluster) -> Iterator[None]:
    yield
    helm = k8s_dir() / "helm"
    subprocess.run(
        [
            str(helm),
            "--kubeconfig",
            str(dev_cluster.kubeconfig),
            "uninstall",
            "kubetrain",
            "-n",
            "kubetrain-system",
        ],
        capture_output=True,
        check=False,
    )
    dev_cluster.kubectl("delete", "tj", "iris-forest", "-n", "default", "--wait=false", check=False)


def test_the_dev_cluster_helm_commands_train_the_example(
    dev_cluster: DevCluster, clean_after: None
) -> None:
    (block,) = code_blocks("The operator on the dev cluster, installed with Helm")
    cmds = commands(block)
    assert cmds[-1] == WATCH and any(
        c.startswith("helm install kubetrain helm/kubetrain") for c in cmds
    )
    out = bash("\n".join([*cmds[:-1], WAIT, "kubectl get tj iris-forest"]), timeout=1500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Succeeded" in out.stdout.splitlines()[-1]


def test_the_real_cluster_install_renders() -> None:
    (block,) = code_blocks("Installing on a real cluster")
    (install,) = commands(block)
    assert install.startswith("helm install kubetrain helm/kubetrain")
    rendered = install.replace("helm install", f"{k8s_dir() / 'helm'} template", 1)
    out = bash(rendered.replace(" --create-namespace", ""), timeout=120)
    assert out.returncode == 0, out.stderr
    assert "namespace: ml-team-a" in out.stdout and "namespace: ml-team-b" in out.stdout
    assert "uri: s3://my-ml-artifacts" in out.stdout
