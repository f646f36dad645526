"""The pod contract is written once: no module but `kubetrain.api.contract` spells its env var
names or artifact file names, and both sides read its files with its models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kubetrain.api import contract
from kubetrain.api.contract import Env, ExitCode, Files, MetricsFile, ProgressFile, parse_file

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [
    *sorted((ROOT / "operator" / "kubetrain").rglob("*.py")),
    *sorted((ROOT / "trainer_image" / "kubetrain_trainer").rglob("*.py")),
]
CONTRACT = ROOT / "operator" / "kubetrain" / "api" / "contract.py"
ENV_NAMES = {v for k, v in vars(Env).items() if k.isupper() and v.startswith(contract.ENV_PREFIX)}
FILE_NAMES = {v for k, v in vars(Files).items() if k.isupper() and "." in v}


def _literals(path: Path) -> list[tuple[int, str]]:
    """String constants in code (docstrings and other bare string statements excluded)."""
    tree = ast.parse(path.read_text())
    bare = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in bare
    ]


def test_no_module_but_the_contract_spells_an_env_name_or_a_file_name() -> None:
    stray = []
    for path in SOURCES:
        if path == CONTRACT:
            continue
        for line, text in _literals(path):
            if text in ENV_NAMES or any(name in text for name in FILE_NAMES):
                stray.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert stray == [], "use kubetrain.api.contract instead:\n" + "\n".join(stray)


def test_the_layout_nests_attempts_under_the_job() -> None:
    root = "s3://bucket/prefix/"
    assert contract.job_prefix(root, "ns", "job") == "s3://bucket/prefix/ns/job"
    assert contract.attempt_prefix(root, "ns", "job", 3) == "s3://bucket/prefix/ns/job/3/"


@pytest.mark.parametrize(
    ("code", "permanent"),
    [(0, None), (1, None), (2, "invalid spec or unusable data"), (3, "the S3 store denied access"),
     (4, None), (143, None), (137, None), (None, None)],
)  # fmt: skip
def test_only_input_and_access_errors_are_permanent(
    code: int | None, permanent: str | None
) -> None:
    assert contract.permanent_failure(code) == permanent


def test_every_exit_code_says_what_it_means() -> None:
    assert all(code.meaning for code in ExitCode)
    assert ExitCode.INTERRUPTED.retryable and not ExitCode.STORAGE_DENIED.retryable


def test_the_trainers_files_parse_with_the_contract_models() -> None:
    from kubetrain_trainer.evaluation.metrics import Evaluation, Objective, check_objective

    objective = check_objective({"accuracy": 0.9}, Objective("accuracy", "maximize", 0.8))
    evaluation = Evaluation("classification", {"accuracy": 0.9}, {}, None, objective)
    parsed = parse_file(MetricsFile, evaluation.to_json())
    assert parsed is not None and parsed.objective.passed is True
    progress = {"stage": "training", "completed": 2, "total": 5, "unit": "epochs", "time": 1.0}
    assert parse_file(ProgressFile, progress) == ProgressFile(
        stage="training", completed=2, total=5, unit="epochs", time=1.0
    )
    assert parse_file(ProgressFile, {"total": -1}) is None


def test_a_reported_metric_line_is_the_contracts() -> None:
    import io
    from contextlib import redirect_stdout

    from kubetrain_trainer import helper
    from kubetrain_trainer.custom import parse_metrics_line

    out = io.StringIO()
    with redirect_stdout(out):
        helper.report({"accuracy": 0.5}, epoch=1, total=2)
    line = out.getvalue()
    assert line.startswith(contract.METRICS_LINE_PREFIX)
    record = parse_metrics_line("\x1b[36m(RayTrainWorker pid=7)\x1b[0m " + line)
    assert record is not None and record["metrics"] == {"accuracy": 0.5}
