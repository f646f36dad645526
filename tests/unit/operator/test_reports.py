"""What the operator shows of the trainer's files."""

from __future__ import annotations

from kubetrain.reports import report_from, split_uri
from kubetrain.state import Verdict, verdict


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
    assert report.best_hyperparameters == {"max_depth": 4}
    assert verdict(report) == Verdict(
        "True", "ThresholdMet", "accuracy = 0.93 on held-out data, threshold >= 0.9: met"
    )


def test_progress_without_a_total_is_not_shown() -> None:
    assert report_from({"stage": "data"}, None, None).progress is None


def test_split_uri() -> None:
    assert split_uri("s3://bucket/a/b/") == ("bucket", "a/b/")


def test_a_final_attempt_without_metrics_has_no_verdict() -> None:
    report = report_from({"stage": "done"}, None, None, final=True)
    assert report.metrics_missing
    assert verdict(report) == Verdict(
        "Unknown", "NoMetrics", "the attempt's metrics.json was not written: no verdict"
    )


def test_metrics_that_break_the_contract_are_not_a_verdict() -> None:
    report = report_from(None, {"objective": "accuracy"}, None, final=True)
    assert report.metrics_invalid
    assert verdict(report).status == "Unknown"
    assert "not valid" in verdict(report).message


def test_an_objective_without_a_value_is_unknown() -> None:
    metrics = {"objective": {"metric": "roc-auc", "value": None, "threshold": 0.9}}
    assert verdict(report_from(None, metrics, None, final=True)) == Verdict(
        "Unknown", "NoMetrics", "no value of roc-auc was reported: no verdict"
    )


def test_a_missed_threshold_names_the_value_and_the_threshold() -> None:
    metrics = {
        "objective": {"metric": "rmse", "value": 9.0, "threshold": 5, "direction": "minimize"}
    }
    assert verdict(report_from(None, metrics, None, final=True)) == Verdict(
        "False", "ThresholdNotMet", "rmse = 9 on held-out data, threshold <= 5: NOT met"
    )


def test_no_threshold_is_no_verdict_but_shows_the_value() -> None:
    metrics = {"objective": {"metric": "accuracy", "value": 0.5}}
    result = verdict(report_from(None, metrics, None, final=True))
    assert (result.status, result.reason) == ("Unknown", "NoThreshold")
    assert "accuracy = 0.5" in result.message


def test_an_unreadable_store_is_said_not_guessed() -> None:
    report = report_from(None, None, None, final=True, store_error="AccessDenied reading s3://x")
    assert not report.metrics_missing
    result = verdict(report)
    assert (result.status, result.reason) == ("Unknown", "StoreUnreadable")
    assert "AccessDenied" in result.message


def test_health_findings_are_read_from_progress_and_metrics() -> None:
    progress = {"stage": "training", "health": [{"reason": "NanLoss", "message": "loss is NaN"}]}
    assert report_from(progress, None, None).health == (("NanLoss", "loss is NaN"),)


def test_garbage_files_do_not_crash_the_reader() -> None:
    for junk in ([], "x", 3, {"total": "many", "unit": 5}, {"objective": {"metric": 1}}):
        report = report_from(junk, junk, junk, final=True)
        assert report.progress is None and report.objective is None
