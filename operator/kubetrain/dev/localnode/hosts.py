"""The pods' private hosts files: how pods on the local node find Services and each other.

The local node has no cluster DNS. Each pod gets its own hosts file, bind-mounted over
/etc/hosts, naming itself, the Services (their ready pods' 127.0.<block>.x addresses) and the
headless Services' pods by hostname.subdomain, as cluster DNS would. The loop rewrites the
files whenever a pod starts or stops or a Service changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubetrain.dev.localnode import podspec
from kubetrain.dev.localnode.lifecycle import PodRuntime


def write_hosts(pods: Iterable[PodRuntime], services: list[dict[str, Any]]) -> None:
    """Rewrite every pod's hosts file that differs from what the cluster now looks like."""
    pods = list(pods)
    running = [
        _local_pod(rt, rt.pod["metadata"].get("labels") or {})
        for rt in pods
        if rt.kill_deadline is None and rt.procs
    ]
    records = podspec.service_records(services, running)
    for rt in pods:
        path = rt.dir / "hosts"
        content = podspec.hosts_file(_local_pod(rt, {}), records)
        # Rewrite in place: the file is bind-mounted by inode into running containers.
        if not path.exists() or path.read_text() != content:
            with path.open("w") as fh:
                fh.write(content)


def _local_pod(rt: PodRuntime, labels: dict[str, str]) -> podspec.LocalPod:
    spec = rt.pod["spec"]
    return podspec.LocalPod(
        rt.namespace, rt.name, rt.ip, labels, spec.get("hostname", ""), spec.get("subdomain", "")
    )
