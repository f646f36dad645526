"""The kopf handlers find their Reconciler in kopf's memo, also in the per-object copies kopf
hands to resource handlers; an operator started without one says so."""

from __future__ import annotations

import copy

import kopf
import pytest
from tests.support.fake_kube import FakeKube, NoReports

from kubetrain import handlers
from kubetrain.config import OperatorConfig
from kubetrain.handlers.reconcile import Reconciler


def test_resource_handlers_get_the_operators_reconciler() -> None:
    reconciler = Reconciler(FakeKube(), OperatorConfig(), reports=NoReports())
    operator_memo = handlers.operator_memo(reconciler)
    per_object = copy.copy(operator_memo)  # what kopf gives each resource's handlers
    assert handlers._reconciler(per_object) is reconciler


def test_a_memo_without_a_reconciler_is_a_permanent_error() -> None:
    with pytest.raises(kopf.PermanentError, match="without a reconciler"):
        handlers._reconciler(kopf.Memo())
