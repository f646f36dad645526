"""The catalogue is complete and tells the truth about the libraries it names."""

from __future__ import annotations

import importlib

import pytest

from kubetrain.api import DATASETS, METRICS, MODELS, Dataset, Loss, Metric, ModelName, Task
from kubetrain.api.catalogue import LOSS_TASKS, TRAINING_HYPERPARAMETERS, by_task


def test_every_name_has_an_entry() -> None:
    assert set(MODELS) == set(ModelName)
    assert set(METRICS) == set(Metric)
    assert set(DATASETS) == set(Dataset)
    assert set(LOSS_TASKS) == set(Loss)


@pytest.mark.parametrize("task", list(Task))
def test_every_task_has_metrics_models_losses_and_a_dataset(task: Task) -> None:
    for table in (METRICS, MODELS, DATASETS):
        assert by_task({name: info.tasks for name, info in table.items()})[task]
    assert by_task(LOSS_TASKS)[task]


def test_every_default_is_acceptable() -> None:
    for model in MODELS.values():
        for name, param in model.hyperparameters.items():
            assert param.problem(param.default) is None, name
    for name, param in TRAINING_HYPERPARAMETERS.items():
        assert param.problem(param.default) is None, name


TFIDF = {"max_features", "ngram_max"}  # the vectorizer's, not the estimator's


@pytest.mark.parametrize("name", [n for n, m in MODELS.items() if not m.is_network], ids=str)
def test_estimators_exist_and_accept_their_hyperparameters(name: ModelName) -> None:
    pytest.importorskip("sklearn")
    model = MODELS[name]
    own = set(model.hyperparameters)
    if name == ModelName.TFIDF_LOGISTIC_REGRESSION:
        own -= TFIDF
    assert set(model.estimators) == set(model.tasks)
    for path in model.estimators.values():
        module, _, cls = path.rpartition(".")
        params = getattr(importlib.import_module(module), cls)().get_params()
        assert own <= set(params), (path, own - set(params))


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits", "diabetes"])
def test_sklearn_datasets_have_the_target_column_the_catalogue_names(name: str) -> None:
    datasets = pytest.importorskip("sklearn.datasets")
    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    assert DATASETS[Dataset(name.replace("_", "-"))].target in frame.columns


def test_sunspots_columns_are_the_catalogues() -> None:
    sm = pytest.importorskip("statsmodels.api")
    columns = sm.datasets.sunspots.load_pandas().data.columns
    info = DATASETS[Dataset.SUNSPOTS]
    assert {info.target, info.time_column} <= set(columns)
