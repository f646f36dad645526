"""The built-in catalogue, as data: models, their hyperparameters, metrics, losses, datasets.

The CRD's CEL rules are generated from these tables (which metric fits which task, which model
serves which task), the operator's semantic checks read them (which hyperparameters a model
accepts, with which types), and the trainer builds models and loads datasets from them. Adding a
model is adding an entry here (and its builder in the trainer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from kubetrain.api.enums import Dataset, Direction, Loss, Metric, ModelName, Task

_Name = TypeVar("_Name", bound=str)

CLASSIFICATION_TASKS = frozenset(
    {Task.CLASSIFICATION, Task.IMAGE_CLASSIFICATION, Task.TEXT_CLASSIFICATION}
)
TABULAR = frozenset({Task.CLASSIFICATION, Task.REGRESSION})


@dataclass(frozen=True)
class MetricInfo:
    """A metric's direction, the tasks it fits and the range its values lie in."""

    direction: Direction
    tasks: frozenset[Task]
    low: float | None = None
    high: float | None = None


def _score(tasks: frozenset[Task], high: float = 1.0) -> MetricInfo:
    return MetricInfo(Direction.MAXIMIZE, tasks, 0.0, high)


def _error(tasks: frozenset[Task], high: float | None = None) -> MetricInfo:
    return MetricInfo(Direction.MINIMIZE, tasks, 0.0, high)


_NUMERIC = frozenset({Task.REGRESSION, Task.FORECASTING})
METRICS: Mapping[Metric, MetricInfo] = {
    Metric.ACCURACY: _score(CLASSIFICATION_TASKS),
    Metric.BALANCED_ACCURACY: _score(CLASSIFICATION_TASKS),
    Metric.F1: _score(CLASSIFICATION_TASKS),
    Metric.PRECISION: _score(CLASSIFICATION_TASKS),
    Metric.RECALL: _score(CLASSIFICATION_TASKS),
    Metric.ROC_AUC: _score(CLASSIFICATION_TASKS),
    Metric.LOG_LOSS: _error(CLASSIFICATION_TASKS),
    Metric.RMSE: _error(_NUMERIC),
    Metric.MAE: _error(_NUMERIC),
    Metric.MSE: _error(_NUMERIC),
    Metric.R2: MetricInfo(Direction.MAXIMIZE, frozenset({Task.REGRESSION}), None, 1.0),
    Metric.MAPE: _error(_NUMERIC),
    Metric.SMAPE: _error(frozenset({Task.FORECASTING}), 2.0),
    Metric.MASE: _error(frozenset({Task.FORECASTING})),
}

LOSS_TASKS: Mapping[Loss, frozenset[Task]] = {
    Loss.CROSS_ENTROPY: CLASSIFICATION_TASKS,
    Loss.MSE: _NUMERIC,
    Loss.MAE: _NUMERIC,
    Loss.HUBER: _NUMERIC,
}
DEFAULT_LOSS = {
    task: Loss.CROSS_ENTROPY if task in CLASSIFICATION_TASKS else Loss.MSE for task in Task
}
"""The loss a network trains with when `spec.model.training.loss` is not set."""


@dataclass(frozen=True)
class Hyperparameter:
    """A hyperparameter a built-in model accepts: its type, bounds (inclusive) and default."""

    type: Literal["int", "float", "bool", "str", "int-list"]
    default: object
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    description: str = ""
    search: tuple[float, float] | None = None
    """A typical range to search (automatic model selection): the bounds of a uniform draw,
    log-uniform when `log`; ints are drawn as whole numbers. None: keep the default."""
    log: bool = False

    def problem(self, value: object) -> str | None:
        """Why `value` is not acceptable, or None when it is."""
        if self.type == "int-list":
            if not isinstance(value, list) or not value or len(value) > 16:
                return "must be a list of 1 to 16 integers"
            problems = [self._number_problem(item, whole=True) for item in value]
            return next((p for p in problems if p), None)
        if self.type == "bool":
            return None if isinstance(value, bool) else "must be true or false"
        if self.type == "str":
            if value in self.choices:
                return None
            return "must be one of " + ", ".join(self.choices)
        return self._number_problem(value, whole=self.type == "int")

    def _number_problem(self, value: object, *, whole: bool) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be an integer" if whole else "must be a number"
        if whole and not isinstance(value, int):
            return "must be an integer"
        if self.low is not None and value < self.low:
            return f"must be at least {self.low:g}"
        if self.high is not None and value > self.high:
            return f"must be at most {self.high:g}"
        return None

    def summary(self) -> str:
        """`int in [1, 5000], default 100` — for the docs."""
        kind = f"one of {', '.join(self.choices)}" if self.choices else self.type
        if self.low is not None or self.high is not None:
            low = "-inf" if self.low is None else f"{self.low:g}"
            high = "inf" if self.high is None else f"{self.high:g}"
            kind += f" in [{low}, {high}]"
        return f"{kind}, default {self.default!r}"


def _int(
    default: int,
    low: float = 1,
    high: float | None = None,
    doc: str = "",
    search: tuple[float, float] | None = None,
    log: bool = False,
) -> Hyperparameter:
    return Hyperparameter("int", default, low, high, description=doc, search=search, log=log)


def _float(
    default: float,
    low: float | None = 0.0,
    high: float | None = None,
    doc: str = "",
    search: tuple[float, float] | None = None,
    log: bool = False,
) -> Hyperparameter:
    return Hyperparameter("float", default, low, high, description=doc, search=search, log=log)


def _choice(default: str, *choices: str) -> Hyperparameter:
    return Hyperparameter("str", default, choices=choices)


def _int_list(default: list[int], low: float = 1, high: float = 4096) -> Hyperparameter:
    return Hyperparameter("int-list", default, low, high)


_TREE = {
    "max_depth": _int(8, 1, 100, search=(2, 16)),
    "min_samples_split": _int(2, 2, 1000),
    "min_samples_leaf": _int(1, 1, 1000, search=(1, 20), log=True),
}
_ENSEMBLE = {"n_estimators": _int(100, 1, 5000, search=(50, 500), log=True), **_TREE}
_RATE = _float(0.1, 1e-6, 10.0, "Shrinkage of each tree's contribution.", (0.01, 0.3), log=True)
_FRACTION = (0.5, 1.0)
_BOOSTED = {
    "n_estimators": _int(200, 1, 10_000, "Boosting rounds.", (50, 1000), log=True),
    "learning_rate": _RATE,
    "subsample": _float(1.0, 0.01, 1.0, "Fraction of rows per tree.", _FRACTION),
    "colsample_bytree": _float(1.0, 0.01, 1.0, "Fraction of columns per tree.", _FRACTION),
    "reg_alpha": _float(0.0, 0.0, 1e9, "L1 regularisation of leaf weights."),
    "reg_lambda": _float(1.0, 0.0, 1e9, "L2 regularisation of leaf weights.", (1e-3, 10), True),
}
"""What LightGBM and XGBoost share, by their scikit-learn API's names."""
_SEQUENCE = {"hidden_size": _int(64, 1, 4096), "num_layers": _int(1, 1, 16)}
_TEXT = {
    "vocab_size": _int(20000, 100, 1_000_000),
    "max_length": _int(256, 8, 8192),
    "embedding_dim": _int(64, 4, 4096),
}


@dataclass(frozen=True)
class ModelInfo:
    """A built-in model: its family, the tasks it serves and the hyperparameters it accepts.

    `estimators` names the class (scikit-learn API) used per task (empty for PyTorch networks);
    `sample_weights` says whether it trains with per-row weights (for balanced classes) and
    `gpu` whether it uses GPUs when `compute.gpusPerWorker` gives it some.
    """

    family: Literal["sklearn", "torch"]
    tasks: frozenset[Task]
    hyperparameters: Mapping[str, Hyperparameter]
    description: str
    estimators: Mapping[Task, str] = field(default_factory=dict)
    sample_weights: bool = True
    gpu: bool = False
    auto_default: bool = True
    """Whether automatic selection tries it when `model.auto.models` is empty."""

    @property
    def is_network(self) -> bool:
        """PyTorch networks train in epochs with `spec.model.training`."""
        return self.family == "torch"


def _sklearn(
    description: str,
    hyperparameters: dict[str, Hyperparameter],
    *,
    sample_weights: bool = True,
    gpu: bool = False,
    auto_default: bool = True,
    **classes: str,
) -> ModelInfo:
    estimators = {Task(task.replace("_", "-")): cls for task, cls in classes.items()}
    return ModelInfo(
        "sklearn",
        frozenset(estimators),
        hyperparameters,
        description,
        estimators,
        sample_weights,
        gpu,
        auto_default,
    )


def _torch(
    description: str, tasks: set[Task], hyperparameters: dict[str, Hyperparameter]
) -> ModelInfo:
    return ModelInfo(
        "torch",
        frozenset(tasks),
        hyperparameters,
        description,
        sample_weights=False,
        gpu=True,
        auto_default=False,
    )


MODELS: Mapping[ModelName, ModelInfo] = {
    ModelName.LOGISTIC_REGRESSION: _sklearn(
        "Logistic regression.",
        {
            "C": _float(1.0, 1e-9, 1e9, search=(0.01, 100.0), log=True),
            "max_iter": _int(1000, 1, 100_000),
            "class_weight": _choice("none", "none", "balanced"),
        },
        classification="sklearn.linear_model.LogisticRegression",
    ),
    ModelName.LINEAR_REGRESSION: _sklearn(
        "Ordinary least squares.",
        {"fit_intercept": Hyperparameter("bool", True)},
        regression="sklearn.linear_model.LinearRegression",
    ),
    ModelName.RIDGE: _sklearn(
        "Linear regression with L2 regularisation; on lagged values for forecasting.",
        {"alpha": _float(1.0, 0.0, 1e9, search=(1e-3, 100.0), log=True)},
        regression="sklearn.linear_model.Ridge",
        forecasting="sklearn.linear_model.Ridge",
    ),
    ModelName.LASSO: _sklearn(
        "Linear regression with L1 regularisation; on lagged values for forecasting.",
        {
            "alpha": _float(1.0, 0.0, 1e9, search=(1e-3, 100.0), log=True),
            "max_iter": _int(1000, 1, 100_000),
        },
        regression="sklearn.linear_model.Lasso",
        forecasting="sklearn.linear_model.Lasso",
    ),
    ModelName.DECISION_TREE: _sklearn(
        "A single decision tree.",
        dict(_TREE),
        classification="sklearn.tree.DecisionTreeClassifier",
        regression="sklearn.tree.DecisionTreeRegressor",
    ),
    ModelName.RANDOM_FOREST: _sklearn(
        "A random forest; on lagged values for forecasting.",
        {**_ENSEMBLE, "max_features": _choice("sqrt", "sqrt", "log2", "all")},
        classification="sklearn.ensemble.RandomForestClassifier",
        regression="sklearn.ensemble.RandomForestRegressor",
        forecasting="sklearn.ensemble.RandomForestRegressor",
    ),
    ModelName.GRADIENT_BOOSTING: _sklearn(
        "Gradient-boosted trees; on lagged values for forecasting.",
        {
            **_ENSEMBLE,
            "learning_rate": _RATE,
            "subsample": _float(1.0, 0.01, 1.0, search=_FRACTION),
        },
        classification="sklearn.ensemble.GradientBoostingClassifier",
        regression="sklearn.ensemble.GradientBoostingRegressor",
        forecasting="sklearn.ensemble.GradientBoostingRegressor",
    ),
    ModelName.HIST_GRADIENT_BOOSTING: _sklearn(
        "scikit-learn's histogram gradient boosting (LightGBM-style, fast on large tables; "
        "handles missing values itself); on lagged values for forecasting.",
        {
            "max_iter": _int(100, 1, 10_000, "Boosting rounds.", (50, 1000), log=True),
            "learning_rate": _RATE,
            "max_leaf_nodes": _int(31, 2, 100_000, "Leaves per tree.", (8, 128), log=True),
            "min_samples_leaf": _int(20, 1, 100_000, "Rows per leaf.", (5, 100), log=True),
            "l2_regularization": _float(0.0, 0.0, 1e9, "L2 regularisation.", (1e-6, 10), True),
        },
        classification="sklearn.ensemble.HistGradientBoostingClassifier",
        regression="sklearn.ensemble.HistGradientBoostingRegressor",
        forecasting="sklearn.ensemble.HistGradientBoostingRegressor",
    ),
    ModelName.LIGHTGBM: _sklearn(
        "LightGBM gradient-boosted trees (leaf-wise); on lagged values for forecasting. Uses "
        "the GPU when compute.gpusPerWorker gives it one.",
        {
            **_BOOSTED,
            "reg_lambda": _float(0.0, 0.0, 1e9, "L2 regularisation of leaf weights."),
            "num_leaves": _int(31, 2, 131_072, "Leaves per tree.", (8, 256), log=True),
            "max_depth": _int(-1, -1, 1000, "Depth limit; -1 for none."),
            "min_child_samples": _int(20, 1, 100_000, "Rows per leaf.", (5, 100), log=True),
        },
        classification="lightgbm.LGBMClassifier",
        regression="lightgbm.LGBMRegressor",
        forecasting="lightgbm.LGBMRegressor",
        gpu=True,
    ),
    ModelName.XGBOOST: _sklearn(
        "XGBoost gradient-boosted trees (histogram method); on lagged values for forecasting. "
        "Uses the GPU (CUDA) when compute.gpusPerWorker gives it one.",
        {
            **_BOOSTED,
            "max_depth": _int(6, 0, 1000, "Depth limit; 0 for none.", (3, 10)),
            "min_child_weight": _float(1.0, 0.0, 1e9, "Hessian weight per leaf.", (0.5, 20), True),
            "gamma": _float(0.0, 0.0, 1e9, "Loss reduction needed to split."),
        },
        classification="xgboost.XGBClassifier",
        regression="xgboost.XGBRegressor",
        forecasting="xgboost.XGBRegressor",
        gpu=True,
    ),
    ModelName.ETS: _sklearn(
        "Exponential smoothing (statsmodels' Holt-Winters, additive), fitted on each lookback "
        "window and forecast from it.",
        {
            "trend": _choice("add", "add", "none"),
            "damped_trend": Hyperparameter("bool", True),
            "seasonal_periods": _int(0, 0, 10_000, "Season length in steps; 0 for none."),
        },
        forecasting="kubetrain_trainer.models.statistical.ETSForecaster",
        sample_weights=False,
        auto_default=False,
    ),
    ModelName.ARIMA: _sklearn(
        "ARIMA(p, d, q) (statsmodels), fitted on each lookback window and forecast from it.",
        {
            "p": _int(2, 0, 20, "Autoregressive order."),
            "d": _int(1, 0, 2, "Differencing order."),
            "q": _int(1, 0, 20, "Moving-average order."),
        },
        forecasting="kubetrain_trainer.models.statistical.ARIMAForecaster",
        sample_weights=False,
        auto_default=False,
    ),
    ModelName.THETA: _sklearn(
        "The Theta method (statsmodels), fitted on each lookback window and forecast from it.",
        {"period": _int(0, 0, 10_000, "Season length to deseasonalise by; 0 for none.")},
        forecasting="kubetrain_trainer.models.statistical.ThetaForecaster",
        sample_weights=False,
        auto_default=False,
    ),
    ModelName.SVM: _sklearn(
        "A support-vector machine.",
        {
            "C": _float(1.0, 1e-9, 1e9, search=(0.01, 100.0), log=True),
            "kernel": _choice("rbf", "linear", "rbf", "poly", "sigmoid"),
            "gamma": _choice("scale", "scale", "auto"),
        },
        classification="sklearn.svm.SVC",
        regression="sklearn.svm.SVR",
    ),
    ModelName.KNN: _sklearn(
        "k nearest neighbours.",
        {
            "n_neighbors": _int(5, 1, 1000, search=(1, 50), log=True),
            "weights": _choice("uniform", "uniform", "distance"),
        },
        classification="sklearn.neighbors.KNeighborsClassifier",
        regression="sklearn.neighbors.KNeighborsRegressor",
        sample_weights=False,
    ),
    ModelName.GAUSSIAN_NB: _sklearn(
        "Gaussian naive Bayes.",
        {"var_smoothing": _float(1e-9, 0.0, 1.0, search=(1e-12, 1e-3), log=True)},
        classification="sklearn.naive_bayes.GaussianNB",
    ),
    ModelName.TFIDF_LOGISTIC_REGRESSION: _sklearn(
        "Logistic regression on TF-IDF features of the text column.",
        {
            "C": _float(1.0, 1e-9, 1e9, search=(0.01, 100.0), log=True),
            "max_features": _int(20000, 10, 1_000_000),
            "ngram_max": _int(2, 1, 5),
        },
        text_classification="sklearn.linear_model.LogisticRegression",
    ),
    ModelName.MLP: _torch(
        "A fully connected network (on flattened pixels for images).",
        {Task.CLASSIFICATION, Task.REGRESSION, Task.IMAGE_CLASSIFICATION},
        {
            "hidden_units": _int_list([64, 64]),
            "activation": _choice("relu", "relu", "gelu", "tanh"),
            "batch_norm": Hyperparameter("bool", False),
        },
    ),
    ModelName.CNN: _torch(
        "A small convolutional network for images.",
        {Task.IMAGE_CLASSIFICATION},
        {
            "channels": _int_list([32, 64]),
            "kernel_size": _int(3, 1, 11),
            "hidden_units": _int(128, 1, 4096),
        },
    ),
    ModelName.LSTM: _torch(
        "An LSTM over the lookback window.", {Task.FORECASTING}, dict(_SEQUENCE)
    ),
    ModelName.GRU: _torch("A GRU over the lookback window.", {Task.FORECASTING}, dict(_SEQUENCE)),
    ModelName.TEXT_CNN: _torch(
        "A convolutional text classifier over token embeddings.",
        {Task.TEXT_CLASSIFICATION},
        {**_TEXT, "num_filters": _int(100, 1, 4096), "kernel_sizes": _int_list([3, 4, 5], 1, 16)},
    ),
    ModelName.TEXT_LSTM: _torch(
        "An LSTM text classifier over token embeddings.",
        {Task.TEXT_CLASSIFICATION},
        {**_TEXT, **_SEQUENCE, "bidirectional": Hyperparameter("bool", True)},
    ),
}

NETWORKS = tuple(name for name, model in MODELS.items() if model.is_network)
"""The PyTorch networks: the models that take `spec.model.training`."""

TRAINING_HYPERPARAMETERS: Mapping[str, Hyperparameter] = {
    "epochs": _int(10, 1, 10_000),
    "batchSize": _int(32, 1, 65_536),
    "learningRate": _float(1e-3, 1e-9, 10.0),
    "weightDecay": _float(0.0, 0.0, 1.0),
    "dropout": _float(0.0, 0.0, 0.99),
    "optimizer": _choice("adam", "adam", "adamw", "sgd", "rmsprop"),
}
"""Fields of `spec.model.training` that a search space may tune, for PyTorch networks."""


@dataclass(frozen=True)
class DatasetInfo:
    """A built-in dataset: the tasks it serves, its columns and where it ships from."""

    tasks: frozenset[Task]
    target: str
    source: str
    description: str
    time_column: str | None = None
    text_column: str | None = None
    image_shape: tuple[int, int, int] | None = None
    """Channels, height, width of the images its pixel columns hold."""


_SKLEARN = "scikit-learn (sklearn.datasets.load_{}, as_frame=True)"
DATASETS: Mapping[Dataset, DatasetInfo] = {
    Dataset.IRIS: DatasetInfo(
        frozenset({Task.CLASSIFICATION}),
        "target",
        _SKLEARN.format("iris"),
        "150 flowers, 3 species.",
    ),
    Dataset.WINE: DatasetInfo(
        frozenset({Task.CLASSIFICATION}),
        "target",
        _SKLEARN.format("wine"),
        "178 wines, 3 cultivars.",
    ),
    Dataset.BREAST_CANCER: DatasetInfo(
        frozenset({Task.CLASSIFICATION}),
        "target",
        _SKLEARN.format("breast_cancer"),
        "569 tumours, benign or malignant.",
    ),
    Dataset.DIGITS: DatasetInfo(
        frozenset({Task.CLASSIFICATION, Task.IMAGE_CLASSIFICATION}),
        "target",
        _SKLEARN.format("digits"),
        "1797 8x8 images of digits (64 pixel columns).",
        image_shape=(1, 8, 8),
    ),
    Dataset.DIABETES: DatasetInfo(
        frozenset({Task.REGRESSION}),
        "target",
        _SKLEARN.format("diabetes"),
        "442 patients, disease progression after a year.",
    ),
    Dataset.CO2: DatasetInfo(
        frozenset({Task.FORECASTING}),
        "co2",
        "statsmodels (statsmodels.datasets.co2), index as column `date`",
        "Weekly atmospheric CO2 at Mauna Loa, 1958-2001.",
        time_column="date",
    ),
    Dataset.SUNSPOTS: DatasetInfo(
        frozenset({Task.FORECASTING}),
        "SUNACTIVITY",
        "statsmodels (statsmodels.datasets.sunspots)",
        "Yearly sunspot activity, 1700-2008.",
        time_column="YEAR",
    ),
    Dataset.SENTIMENT_MINI: DatasetInfo(
        frozenset({Task.TEXT_CLASSIFICATION}),
        "label",
        "the trainer image (a small generated set of short reviews, column `text`)",
        "Short product reviews labelled positive or negative.",
        text_column="text",
    ),
}


def by_task(table: Mapping[_Name, frozenset[Task]]) -> dict[str, list[str]]:
    """Invert a name -> tasks table into task -> names, in the tables' order."""
    return {
        task.value: [str(name) for name, tasks in table.items() if task in tasks] for task in Task
    }


METRICS_BY_TASK = by_task({name: info.tasks for name, info in METRICS.items()})
MODELS_BY_TASK = by_task({name: info.tasks for name, info in MODELS.items()})
LOSSES_BY_TASK = by_task(LOSS_TASKS)
DATASETS_BY_TASK = by_task({name: info.tasks for name, info in DATASETS.items()})
