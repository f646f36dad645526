"""What the operator shows of the trainer's files."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetrain.api.status import TrainingJobStatus
from kubetrain.reports import MAX_FILE_BYTES, UNREADABLE, decode, report_from, split_uri
from kubetrain.state import TrainerReport, Verdict, verdict


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
    junk: object
    for junk in ([], "x", 3, {"total": "many", "unit": 5}, {"objective": {"metric": 1}}):
        report = report_from(junk, junk, junk, final=True)
        assert report.progress is None and report.objective is None


# --- fuzzed files: whatever is in the store, the reader returns a report the status can hold --

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.sampled_from([10**400, -(10**400)])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)
NUMBER = st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.sampled_from([10**400])
SHAPED_PROGRESS = st.fixed_dictionaries(
    {},
    optional={
        "stage": JSON,
        "completed": NUMBER,
        "total": NUMBER,
        "unit": st.sampled_from(["epochs", "trials", "bogus", 3, "x" * 100]),
        "summary": JSON,
        "bestMetric": st.fixed_dictionaries({"name": st.text(max_size=100), "value": NUMBER}),
        "health": JSON,
    },
)
SHAPED_METRICS = st.fixed_dictionaries(
    {
        "objective": st.fixed_dictionaries(
            {"metric": st.text(max_size=100)},
            optional={"value": NUMBER, "threshold": NUMBER, "direction": JSON, "passed": JSON},
        )
    },
    optional={
        "test": st.dictionaries(st.text(max_size=70), NUMBER | JSON, max_size=80),
        "validation": JSON,
        "health": JSON,
    },
)
SHAPED_METADATA = st.fixed_dictionaries({}, optional={"tuning": st.fixed_dictionaries(
    {}, optional={"bestConfig": st.dictionaries(st.text(max_size=8), JSON, max_size=70) | JSON}
)})  # fmt: skip
FILE_BYTES = (
    st.binary(max_size=200)
    | JSON.map(lambda v: json.dumps(v).encode())
    | JSON.map(lambda v: json.dumps(v).encode()).flatmap(
        lambda b: st.integers(0, len(b)).map(lambda n: b[:n])  # truncated
    )
    | st.integers(1, 200_000).map(lambda n: b"[" * n)  # deeper than any parser's stack
    | st.just(b'{"a": "' + b"x" * (MAX_FILE_BYTES + 10) + b'"}')
)


def _status_accepts(report: TrainerReport) -> None:
    """What the API server would check of the status the report becomes."""
    status = {
        "progress": report.progress,
        "bestMetric": report.best_metric,
        "bestMetrics": report.metrics,
        "bestHyperparameters": report.best_hyperparameters,
    }
    status = {k: v for k, v in status.items() if v is not None}
    text = json.dumps(status, allow_nan=False)  # NaN/Infinity are not JSON
    assert all(abs(int(n)) < 2**63 for n in re.findall(r"(?<![\w.])-?\d+(?![\d.eE])", text))
    TrainingJobStatus.model_validate(status)
    verdict(report)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(progress=SHAPED_PROGRESS | JSON, metrics=SHAPED_METRICS | JSON, metadata=SHAPED_METADATA)
def test_any_json_in_the_files_gives_a_report_the_status_can_hold(
    progress: Any, metrics: Any, metadata: Any
) -> None:
    for final in (False, True):
        _status_accepts(report_from(progress, metrics, metadata, final=final))


@settings(max_examples=200, deadline=None)
@given(raw=FILE_BYTES)
def test_any_bytes_in_a_file_decode_to_json_or_unreadable(raw: bytes) -> None:
    decoded = decode(raw)
    report = report_from(decoded, decoded, decoded, final=True)
    _status_accepts(report)
    if decoded is UNREADABLE:
        assert report.metrics_invalid
        assert "metrics.json is not valid" in verdict(report).message
