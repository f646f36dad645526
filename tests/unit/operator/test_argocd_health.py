"""The Argo CD health check shipped with the chart, run by a real Lua interpreter (lupa)."""

from __future__ import annotations

from typing import Any

import lupa
import pytest
from tests.support import ROOT
from tests.unit.operator.job_statuses import job, statuses

SCRIPT = (ROOT / "helm" / "kubetrain" / "files" / "argocd-health.lua").read_text()
STATUSES = statuses()


def health(obj: dict[str, Any]) -> tuple[str, str]:
    """Run the script the way Argo CD does: `obj` is a global table, the result a table."""
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT)
    return str(result["status"]), str(result["message"])


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("Succeeded", "Healthy"),
        ("Pending", "Progressing"),
        ("Running", "Progressing"),
        ("Failed", "Degraded"),
        ("Suspended", "Suspended"),
    ],
)
def test_health_of_every_phase(phase: str, expected: str) -> None:
    status, message = health(job(STATUSES[phase]))
    assert status == expected
    assert message.startswith(f"{phase}: ")


def test_failed_job_says_why() -> None:
    assert "boom" in health(job(STATUSES["Failed"]))[1]


def test_new_job_without_status_is_progressing() -> None:
    obj = job({})
    del obj["status"]
    assert health(obj)[0] == "Progressing"


def test_unobserved_spec_change_is_progressing() -> None:
    status, message = health(job(STATUSES["Succeeded"], generation=4))
    assert (status, "generation 4" in message) == ("Progressing", True)
