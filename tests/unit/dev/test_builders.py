"""Pure builders of the dev cluster: node objects, component command lines, config files."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubetrain.dev import config, controlplane, pools, s3
from kubetrain.dev.layout import Layout


def test_default_pools_have_the_documented_shapes() -> None:
    nodes = {n["metadata"]["name"]: n for n in pools.build_nodes(config.DevConfig())}
    gpu = nodes["gpu-0"]
    assert gpu["metadata"]["labels"]["kubetrain.io/pool"] == "gpu"
    assert gpu["status"]["capacity"]["nvidia.com/gpu"] == "8"
    assert gpu["spec"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    ]
    highmem = nodes["cpu-highmem-0"]
    assert highmem["status"]["capacity"] == {"cpu": "8", "memory": "256Gi", "pods": "110"}
    assert nodes["cpu-general-0"]["spec"]["taints"] == []
    assert all(n["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake" for n in nodes.values())


def test_config_file_overrides_and_errors_name_the_field(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "pools:\n  - name: tiny\n    cpu: '2'\n    memory: 4Gi\nports:\n  apiserver: 7443\n"
    )
    cfg = config.load(good)
    assert [p.name for p in cfg.pools] == ["tiny"]
    assert cfg.ports.apiserver == 7443
    bad = tmp_path / "bad.yaml"
    bad.write_text("pools:\n  - name: Bad_Name\n    nodez: 3\n")
    with pytest.raises(config.ConfigError) as err:
        config.load(bad)
    assert "pools.0.name" in str(err.value)
    assert "pools.0.nodez" in str(err.value)
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.yaml")


def test_control_plane_listens_on_loopback_with_rbac_and_pod_security(tmp_path: Path) -> None:
    cfg = config.DevConfig(state_dir=tmp_path)
    argv = controlplane.apiserver_argv(Path("/bin"), cfg, Layout(tmp_path))
    assert "--bind-address=127.0.0.1" in argv
    assert "--authorization-mode=Node,RBAC" in argv
    assert "--enable-admission-plugins=NodeRestriction,PodSecurity" in argv
    etcd = controlplane.etcd_argv(Path("/bin"), cfg, Layout(tmp_path))
    assert all("127.0.0.1" in a for a in etcd if a.startswith("--listen"))


def test_s3_identities_enforce_credentials(tmp_path: Path) -> None:
    ids = s3.identities("AK", "SK")
    assert ids["identities"][0]["credentials"] == [{"accessKey": "AK", "secretKey": "SK"}]
    argv = s3.weed_argv(Path("weed"), tmp_path, tmp_path / "ids.json", s3.S3Ports(1, 2, 3, 4))
    assert f"-s3.config={tmp_path / 'ids.json'}" in argv
    assert "-ip.bind=127.0.0.1" in argv
