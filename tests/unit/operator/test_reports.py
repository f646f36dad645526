"""What the operator shows of the trainer's files."""

from __future__ import annotations

from kubetrain.reports import report_from, split_uri


def test_progress_and_final_metrics_become_status_fields() -> None:
    report = report_from(
        {
            "stage": "training",
            "completed": 3,
            "total": 10,
            "unit": "epochs",
            "summary": "3/10 epochs",
        },
        {
            "test": {"accuracy": 0.93, "f1": 0.9, "confusion": [[1, 2]]},
            "objective": {
                "metric": "accuracy",
                "value": 0.93,
                "threshold": 0.9,
                "direction": "maximize",
                "passed": True,
            },
        },
        {"tuning": {"bestConfig": {"max_depth": 4}}},
    )
    assert report.progress == {
        "completed": 3,
        "total": 10,
        "unit": "epochs",
        "summary": "3/10 epochs",
    }
    assert report.best_metric == {"name": "accuracy", "value": 0.93}
    assert report.metrics == {"accuracy": 0.93, "f1": 0.9}
    assert report.success_criteria_met is True
    assert report.best_hyperparameters == {"max_depth": 4}
    assert report.objective_sentence == "accuracy = 0.93 on held-out data, threshold >= 0.9: met"


def test_progress_without_a_total_is_not_shown() -> None:
    assert report_from({"stage": "data"}, None, None).progress is None


def test_split_uri() -> None:
    assert split_uri("s3://bucket/a/b/") == ("bucket", "a/b/")
