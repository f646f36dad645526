"""The closed vocabularies of the API: tasks, metrics, models, datasets, algorithms, phases.

Each is a `StrEnum`, so the values are the strings users write in manifests. What each name
*means* (which tasks a model serves, a metric's direction) is data in `catalogue`.
"""

from __future__ import annotations

from enum import StrEnum


class Task(StrEnum):
    """The kind of problem the job solves."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    FORECASTING = "forecasting"
    IMAGE_CLASSIFICATION = "image-classification"
    TEXT_CLASSIFICATION = "text-classification"


class Direction(StrEnum):
    """Whether a larger or a smaller metric value is better."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


class Metric(StrEnum):
    """An evaluation metric. f1, precision and recall are macro-averaged over the classes."""

    ACCURACY = "accuracy"
    BALANCED_ACCURACY = "balanced-accuracy"
    F1 = "f1"
    PRECISION = "precision"
    RECALL = "recall"
    ROC_AUC = "roc-auc"
    LOG_LOSS = "log-loss"
    RMSE = "rmse"
    MAE = "mae"
    MSE = "mse"
    R2 = "r2"
    MAPE = "mape"
    SMAPE = "smape"
    MASE = "mase"


class Dataset(StrEnum):
    """A built-in dataset that ships offline with a library (for demos and tests)."""

    IRIS = "iris"
    WINE = "wine"
    BREAST_CANCER = "breast-cancer"
    DIGITS = "digits"
    DIABETES = "diabetes"
    CO2 = "co2"
    SUNSPOTS = "sunspots"
    SENTIMENT_MINI = "sentiment-mini"


class DataFormat(StrEnum):
    """The file format of S3 data."""

    CSV = "csv"
    PARQUET = "parquet"


class MissingStrategy(StrEnum):
    """How missing values are handled."""

    DROP = "drop"
    MEAN = "mean"
    MEDIAN = "median"
    MOST_FREQUENT = "most-frequent"
    CONSTANT = "constant"
    INTERPOLATE = "interpolate"


class Scaling(StrEnum):
    """How numeric features are scaled."""

    NONE = "none"
    STANDARD = "standard"
    MINMAX = "minmax"
    ROBUST = "robust"


class Encoding(StrEnum):
    """How categorical features are encoded."""

    ONE_HOT = "one-hot"
    ORDINAL = "ordinal"


class ColumnType(StrEnum):
    """How a column is read, overriding what its values look like."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    TEXT = "text"
    DATETIME = "datetime"


class ClassWeights(StrEnum):
    """How classes are weighted in training."""

    NONE = "none"
    BALANCED = "balanced"


class ModelName(StrEnum):
    """A model of the built-in catalogue: scikit-learn estimators and PyTorch networks."""

    LOGISTIC_REGRESSION = "logistic-regression"
    LINEAR_REGRESSION = "linear-regression"
    RIDGE = "ridge"
    LASSO = "lasso"
    DECISION_TREE = "decision-tree"
    RANDOM_FOREST = "random-forest"
    GRADIENT_BOOSTING = "gradient-boosting"
    HIST_GRADIENT_BOOSTING = "hist-gradient-boosting"
    LIGHTGBM = "lightgbm"
    XGBOOST = "xgboost"
    ETS = "ets"
    ARIMA = "arima"
    THETA = "theta"
    SVM = "svm"
    KNN = "knn"
    GAUSSIAN_NB = "gaussian-nb"
    TFIDF_LOGISTIC_REGRESSION = "tfidf-logistic-regression"
    MLP = "mlp"
    CNN = "cnn"
    LSTM = "lstm"
    GRU = "gru"
    TEXT_CNN = "text-cnn"
    TEXT_LSTM = "text-lstm"


class Optimizer(StrEnum):
    """The optimizer of a PyTorch network."""

    ADAM = "adam"
    ADAMW = "adamw"
    SGD = "sgd"
    RMSPROP = "rmsprop"


class Loss(StrEnum):
    """The training loss of a PyTorch network."""

    CROSS_ENTROPY = "cross-entropy"
    MSE = "mse"
    MAE = "mae"
    HUBER = "huber"


class SearchAlgorithm(StrEnum):
    """How tuning picks the next trial's hyperparameters."""

    GRID = "grid"
    RANDOM = "random"
    BAYESIAN = "bayesian"


class DomainType(StrEnum):
    """The kind of range a hyperparameter is searched over."""

    CHOICE = "choice"
    UNIFORM = "uniform"
    LOGUNIFORM = "loguniform"
    INT = "int"


class Scheduler(StrEnum):
    """The early-stopping scheduler that ends unpromising trials."""

    ASHA = "asha"
    MEDIAN = "median"
    NONE = "none"


class FinalModel(StrEnum):
    """Which model a tuning job keeps: the best trial's, or one retrained on its settings."""

    BEST_TRIAL = "best-trial"
    RETRAIN = "retrain"


class Phase(StrEnum):
    """Where a TrainingJob is in its life."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def is_terminal(self) -> bool:
        """Whether the job has finished for good."""
        return self in (Phase.SUCCEEDED, Phase.FAILED)


class ConditionStatus(StrEnum):
    """The status of a condition, per the Kubernetes API conventions."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ProgressUnit(StrEnum):
    """What progress is counted in."""

    EPOCHS = "epochs"
    TRIALS = "trials"
    FOLDS = "folds"
    STEPS = "steps"


class ParallelStrategy(StrEnum):
    """How a network is spread over several workers."""

    DDP = "ddp"
    """Data parallel: every worker holds the whole model; gradients are averaged."""
    FSDP = "fsdp"
    """Fully sharded data parallel: parameters, gradients and optimizer state are sharded
    across the workers (model parallel for networks larger than one worker's memory)."""
