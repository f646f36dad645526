"""Where a dev cluster keeps its files, all under one state directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubetrain.dev.pki import ClientIdentity


@dataclass(frozen=True)
class Layout:
    """Paths under the dev cluster's state directory."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def run(self) -> Path:
        """Pid files."""
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig that `up` prints."""
        return self.root / "kubeconfig"

    def component_kubeconfig(self, who: ClientIdentity) -> Path:
        return self.root / "kubeconfigs" / f"{who.file_stem}.yaml"

    @property
    def kwok_config(self) -> Path:
        return self.root / "kwok.yaml"

    @property
    def weed(self) -> Path:
        return self.root / "seaweedfs"

    @property
    def s3_identities(self) -> Path:
        return self.root / "s3-identities.json"

    @property
    def pods(self) -> Path:
        """The local node's pod directories (volumes, hosts file, container logs)."""
        return self.root / "pods"

    @property
    def kueue(self) -> Path:
        """Kueue's configuration file and its webhook server's certificate (certs/)."""
        return self.root / "kueue"

    @property
    def state_file(self) -> Path:
        """What `up` set up (endpoints, credentials), read by `status`."""
        return self.root / "cluster.json"
