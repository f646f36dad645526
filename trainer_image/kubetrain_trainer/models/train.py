"""Stage 4, training: the declared built-in model fitted on the prepared arrays.

`ModelSpec` names the model, its hyperparameters, the PyTorch training settings and the compute
(workers, GPUs). `train(...)` returns a `TrainResult` with a `TrainedModel` ready to evaluate and
save. scikit-learn estimators are fitted in-process. PyTorch networks train in-process with one
worker and no GPU, and through Ray Train (`ray_train.fit_distributed`) with more than one worker
or with GPUs; CUDA is used whenever it is present.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from kubetrain_trainer.models.catalogue import NetworkDef, make_estimator, model_family, network_def
from kubetrain_trainer.models.torch_train import LoopHooks, TrainingSpec, fit_network, pick_device
from kubetrain_trainer.predict import TrainedModel
from kubetrain_trainer.preparation.preprocessors import Preprocessor
from kubetrain_trainer.preparation.spec import Arrays

MODEL_KEY = "model"
"""The parameter of an automatic-selection trial that names its model."""


def catalogue_defaults(name: str) -> dict[str, Any]:
    """The catalogue's default hyperparameters of a built-in model."""
    from kubetrain.api.catalogue import MODELS

    info = MODELS.get(name)  # type: ignore[call-overload]
    return {k: h.default for k, h in info.hyperparameters.items()} if info else {}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    seed: int = 42
    workers: int = 1
    gpus_per_worker: float = 0
    strategy: str = "ddp"  # ddp | fsdp: how a network is spread over the workers
    class_weights: str = "none"  # none | balanced (classification)

    @property
    def family(self) -> str:
        return model_family(self.name)

    def with_params(self, params: dict[str, Any]) -> ModelSpec:
        """Tuned values: training settings go to `training`, the rest are hyperparameters."""
        training_fields = {
            "epochs": "epochs", "batch_size": "batch_size", "batchSize": "batch_size",
            "learning_rate": "learning_rate", "learningRate": "learning_rate",
            "weight_decay": "weight_decay", "weightDecay": "weight_decay", "dropout": "dropout",
            "optimizer": "optimizer",
        }  # fmt: skip
        training: dict[str, Any] = {}
        hyper = dict(self.hyperparameters)
        if MODEL_KEY in params:  # automatic selection: {MODEL_KEY: {MODEL_KEY: name, ...}}
            chosen = dict(params[MODEL_KEY])
            name = str(chosen.pop(MODEL_KEY))
            base = replace(self, name=name, hyperparameters=catalogue_defaults(name))
            return base.with_params(chosen)
        for key, value in params.items():
            if self.family == "torch" and key in training_fields:
                training[training_fields[key]] = value
            else:
                hyper[key] = value
        return replace(self, hyperparameters=hyper, training=replace(self.training, **training))


@dataclass
class TrainResult:
    model: TrainedModel
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_run: int = 0
    resumed_from_epoch: int | None = None
    resumed_from_attempt: str | None = None  # the attempt whose fit or checkpoint was reused
    stopped_early: bool = False
    diverged: bool = False
    seconds: float = 0.0
    device: str = "cpu"
    workers: int = 1


def _sklearn_target(y: np.ndarray) -> np.ndarray:
    return y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y


def fit_estimator(
    spec: ModelSpec, task: str, train: Arrays, preprocessor: Preprocessor
) -> TrainedModel:
    from sklearn.multioutput import MultiOutputRegressor

    estimator = make_estimator(
        spec.name, task, spec.hyperparameters, spec.seed, gpus=spec.gpus_per_worker
    )
    y = _sklearn_target(train.y)
    if y.ndim == 2 and not _native_multioutput(estimator):
        estimator = MultiOutputRegressor(estimator)
    estimator.fit(train.x, y, **_weights(spec, task, estimator, y))
    return TrainedModel(task=task, family="sklearn", preprocessor=preprocessor, estimator=estimator)


def _weights(spec: ModelSpec, task: str, estimator: Any, y: np.ndarray) -> dict[str, Any]:
    """`sample_weight` that balances the classes, when asked for (checked by the operator:
    every estimator it allows this for takes sample weights)."""
    import inspect

    if task != "classification" or spec.class_weights != "balanced":
        return {}
    from sklearn.utils.class_weight import compute_sample_weight

    if "sample_weight" not in inspect.signature(estimator.fit).parameters:
        from kubetrain_trainer.errors import InvalidSpecError

        raise InvalidSpecError(
            f"preparation.classWeights: balanced needs a model that takes sample weights; "
            f"{spec.name} does not."
        )
    return {"sample_weight": compute_sample_weight("balanced", y)}


def _check_exogenous(spec: ModelSpec, preprocessor: Preprocessor) -> None:
    """Exogenous columns extend the lag features: models that read the window as a sequence
    (networks, the statistical forecasters) cannot take them."""
    if not getattr(preprocessor, "exogenous", None):
        return
    from kubetrain.api.catalogue import MODELS

    info = MODELS.get(spec.name)  # type: ignore[call-overload]
    statistical = info is not None and any(
        path.startswith("kubetrain_trainer.models.statistical.")
        for path in info.estimators.values()
    )
    if info is not None and (info.is_network or statistical):
        from kubetrain_trainer.errors import InvalidSpecError

        raise InvalidSpecError(
            f"preparation.features.include adds exogenous columns, which {spec.name} cannot "
            "use (it reads the window as one series); choose a regression model such as "
            "ridge, random-forest, lightgbm or xgboost."
        )


def _uses_gpu(name: str) -> bool:
    from kubetrain.api.catalogue import MODELS

    info = MODELS.get(name)  # type: ignore[call-overload]
    return bool(info and info.gpu)


def _native_multioutput(estimator: Any) -> bool:
    name = type(estimator).__name__
    return not any(s in name for s in ("HistGradientBoosting", "SVR", "GradientBoosting", "LGBM"))


def build_network_def(
    spec: ModelSpec, task: str, preprocessor: Preprocessor, train: Arrays
) -> NetworkDef:
    n_outputs = (
        len(preprocessor.classes or [])
        if task == "classification"
        else (train.y.shape[1] if train.y.ndim == 2 else 1)
    )
    return network_def(
        spec.name,
        spec.hyperparameters,
        n_inputs=int(train.x.shape[1]),
        n_outputs=n_outputs,
        dropout=spec.training.dropout,
        image_shape=preprocessor.image_shape,
        vocab_size=preprocessor.vocab_size,
    )


def train(
    spec: ModelSpec,
    task: str,
    train_arrays: Arrays,
    validation: Arrays | None,
    preprocessor: Preprocessor,
    hooks: LoopHooks | None = None,
) -> TrainResult:
    started = time.monotonic()
    _check_exogenous(spec, preprocessor)
    if spec.family == "sklearn":
        store = hooks.checkpoints if hooks is not None else None
        found = store.fitted_model() if store is not None else None
        if found is not None:  # an earlier attempt fitted this very model on this very data
            model, pointer = found
            return TrainResult(model=model, resumed_from_attempt=str(pointer["attempt"]))
        model = fit_estimator(spec, task, train_arrays, preprocessor)
        if store is not None:
            store.save_fitted(model)
        device = "cuda" if spec.gpus_per_worker and _uses_gpu(spec.name) else "cpu"
        return TrainResult(model=model, seconds=time.monotonic() - started, device=device)

    definition = build_network_def(spec, task, preprocessor, train_arrays)
    if spec.workers > 1 or spec.gpus_per_worker > 0:
        from kubetrain_trainer.models.ray_train import fit_distributed

        outcome = fit_distributed(
            task, definition, spec, train_arrays, validation, hooks or LoopHooks()
        )
    else:
        outcome = fit_network(
            task,
            definition,
            spec.training,
            train_arrays,
            validation,
            seed=spec.seed,
            hooks=hooks,
            device=pick_device(),
        )
    model = TrainedModel(
        task=task,
        family="torch",
        preprocessor=preprocessor,
        network=definition,
        state_dict=outcome.state_dict,
    )
    return TrainResult(
        model=model,
        history=outcome.history,
        epochs_run=outcome.epochs_run,
        resumed_from_epoch=outcome.resumed_from_epoch,
        resumed_from_attempt=outcome.resumed_from_attempt,
        stopped_early=outcome.stopped_early,
        diverged=outcome.diverged,
        seconds=time.monotonic() - started,
        device=outcome.device,
        workers=max(1, spec.workers),
    )
