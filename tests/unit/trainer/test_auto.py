"""Automatic model selection: the task's catalogue tried within a budget, every candidate ranked,
the best one kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.trainer import config_of, run_spec

from kubetrain_trainer.models.train import MODEL_KEY
from kubetrain_trainer.tuning.auto import AutoSpec, candidates, plan

DIABETES_AUTO = {
    "problem": {"task": "regression", "target": "target", "objective": {"metric": "mae"}},
    "data": {"dataset": "diabetes"},
    "preparation": {"split": {"validation": 0.2, "test": 0.2, "seed": 3}},
    "model": {"auto": {"models": ["ridge", "random-forest", "lightgbm"], "maxTrials": 5}},
}


def test_the_plan_tries_every_candidate_with_defaults_then_draws_in_turn() -> None:
    configs = plan(AutoSpec(models=("ridge", "lightgbm"), max_trials=5, seed=1))
    assert [c[MODEL_KEY] for c in configs] == ["ridge", "lightgbm", "ridge", "lightgbm", "ridge"]
    assert configs[0] == {MODEL_KEY: "ridge"} and configs[1] == {MODEL_KEY: "lightgbm"}
    assert 1e-3 <= configs[2]["alpha"] <= 100
    assert 0.01 <= configs[3]["learning_rate"] <= 0.3 and isinstance(configs[3]["num_leaves"], int)
    assert plan(AutoSpec(models=("ridge", "lightgbm"), max_trials=5, seed=1)) == configs


def test_default_candidates_are_the_task_estimators() -> None:
    assert candidates("forecasting", []) == (
        "ridge", "lasso", "random-forest", "gradient-boosting", "hist-gradient-boosting",
        "lightgbm", "xgboost",
    )  # fmt: skip
    assert "knn" not in candidates("classification", [], class_weights="balanced")
    config = config_of(DIABETES_AUTO)
    assert config.auto.models == ("ridge", "random-forest", "lightgbm")
    assert config.model.name == "ridge"


@pytest.mark.usefixtures("ray_local")
def test_auto_ranks_every_candidate_and_keeps_the_best(tmp_path: Path) -> None:
    result = run_spec(DIABETES_AUTO, tmp_path, job="auto")
    selection = result.metadata["selection"]
    ranked = selection["candidates"]
    assert [c["model"] for c in ranked] != [] and len(ranked) == 3
    assert {c["model"] for c in ranked} == {"ridge", "random-forest", "lightgbm"}
    assert sum(c["trials"] for c in ranked) == selection["trials"] == 5
    values = [c["objective"] for c in ranked]
    assert values == sorted(values)  # mae: lower first
    assert result.metadata["model"]["name"] == ranked[0]["model"]
    assert selection["bestValue"] == pytest.approx(values[0])
    html = (tmp_path / "ns/auto/1/report.html").read_text()
    assert "<h2>Automatic model selection</h2>" in html
    for c in ranked:
        assert f"<td>{c['model']}</td>" in html
    saved = json.loads((tmp_path / "ns/auto/1/metadata.json").read_text())
    assert saved["selection"]["candidates"] == ranked
