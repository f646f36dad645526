"""The operator configuration: the shipped file loads, bad files name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubetrain import config

ROOT = Path(__file__).resolve().parents[3]


def test_dev_config_loads_with_its_profiles() -> None:
    cfg = config.load(ROOT / "deploy" / "operator-config-dev.yaml")
    assert cfg.default_profile == "local"
    assert set(cfg.profile_map()) == {"cpu-general", "cpu-highmem", "gpu", "local"}
    assert cfg.profile_map()["gpu"].gpus == 2


def test_bad_config_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "op.yaml"
    bad.write_text(
        "defaultProfile: nope\nprofiles:\n  - name: cpu-a\n"
        "    resources: {cpu: '1', memory: 1Gi}\n    gpus: 2\n"
    )
    with pytest.raises(config.ConfigError) as err:
        config.load(bad)
    assert "profiles.0" in str(err.value)
    assert "gpu" in str(err.value)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("defaultProfile: nope\n")
    with pytest.raises(config.ConfigError, match="defaultProfile 'nope' is not one of"):
        config.load(unknown)
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.yaml")
