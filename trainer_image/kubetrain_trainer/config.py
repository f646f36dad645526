"""The adapter from the TrainingJob API (`kubetrain.api`) to the stages' own small inputs.

Each stage takes a dataclass of its own (`DataSource`, `PrepSpec`, `ModelSpec`, `TuneSpec`, ...)
and knows nothing of the manifest. This module is the one place that reads the resolved spec:
it validates it with `kubetrain.api.TrainingJobSpec` (the single source of truth), fills the
catalogue's defaults, and maps names where the trainer's vocabulary differs (the API's
`image-classification` and `text-classification` are classification over image or text
features here). Preparation options keep the API's spellings (`most-frequent`, `one-hot`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubetrain.api.contract import Env
from kubetrain_trainer.data.columns import ColumnSpec
from kubetrain_trainer.data.load import DataSource, LoadedData, builtin_info
from kubetrain_trainer.errors import DataError, InvalidSpecError
from kubetrain_trainer.evaluation.metrics import Objective
from kubetrain_trainer.models.torch_train import TrainingSpec
from kubetrain_trainer.models.train import ModelSpec, catalogue_defaults
from kubetrain_trainer.preparation.spec import PrepSpec, TextFeatures
from kubetrain_trainer.runtime.checkpoint import CheckpointPolicy
from kubetrain_trainer.runtime.storage import S3Settings
from kubetrain_trainer.tuning.auto import AutoSpec, candidates
from kubetrain_trainer.tuning.space import SearchDomain, TuneSpec

BASE_TASK = {
    "classification": "classification",
    "image-classification": "classification",
    "text-classification": "classification",
    "regression": "regression",
    "forecasting": "forecasting",
}


@dataclass(frozen=True)
class CustomCode:
    """Bring-your-own code: the command to run and the extra environment it gets."""

    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    epochs: int | None = None


@dataclass(frozen=True)
class JobConfig:
    """Everything the workflow needs, in the stages' own terms."""

    task: str  # the API's task
    base_task: str  # classification | regression | forecasting
    objective: Objective
    data: DataSource
    data_s3: S3Settings | None
    preparation: PrepSpec
    model: ModelSpec | None
    custom: CustomCode | None
    tuning: TuneSpec | None
    checkpoint: CheckpointPolicy
    checkpoints_to_keep: int
    spec: dict[str, Any]  # the resolved spec, camelCase, as saved with the artifacts
    auto: AutoSpec | None = None  # automatic model selection

    @property
    def modality(self) -> str:
        if self.task == "image-classification":
            return "image"
        if self.task == "text-classification":
            return "text"
        return "timeseries" if self.base_task == "forecasting" else "tabular"


def parse_spec(document: dict[str, Any]) -> Any:
    """A `kubetrain.api.TrainingJobSpec` from a TrainingJob object or its bare spec."""
    from pydantic import ValidationError

    from kubetrain.api import TrainingJobSpec, field_errors, invalid_spec_message

    body = document.get("spec", document) if isinstance(document, dict) else document
    try:
        return TrainingJobSpec.model_validate(body, by_alias=True, by_name=False)
    except ValidationError as error:
        errors = field_errors(error)
        for e in errors:
            object.__setattr__(e, "path", "spec." + e.path if e.path else "spec")
        raise InvalidSpecError(
            f"invalid TrainingJob spec: {invalid_spec_message(errors)}"
        ) from None


def load_spec_file(path: str | Path) -> Any:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidSpecError(f"cannot read the spec file {path}: {exc.strerror}") from exc
    try:
        document = json.loads(text)
    except ValueError:
        import yaml

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidSpecError(f"the spec file {path} is neither JSON nor YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidSpecError(f"the spec file {path} does not hold an object.")
    return parse_spec(document)


def data_s3_settings(access: Any) -> S3Settings:
    """Endpoint/region from the spec, credentials from the environment the operator set."""
    env = os.environ
    base = S3Settings.from_env()
    endpoint = (getattr(access, "endpoint", None) if access else None) or env.get(
        Env.DATA_S3_ENDPOINT
    )
    own = (Env.DATA_ACCESS_KEY_ID, Env.DATA_SECRET_ACCESS_KEY)
    credentials = S3Settings.from_env(credential_env=own) if env.get(own[0]) else base
    return S3Settings(
        endpoint=endpoint or base.endpoint,
        access_key=credentials.access_key,
        secret_key=credentials.secret_key,
        region=(getattr(access, "region", None) if access else None) or base.region,
        credential_env=credentials.credential_env,
    )


def _hyperparameters(name: str, given: dict[str, Any]) -> dict[str, Any]:
    return {**catalogue_defaults(name), **given}


def _columns(features: Any) -> ColumnSpec:
    return ColumnSpec(
        include=tuple(features.include),
        exclude=tuple(features.exclude),
        types={name: str(kind) for name, kind in features.types.items()},
        datetime_parts=features.datetime.parts,
        datetime_cyclic=features.datetime.cyclic,
    )


def _auto(auto: Any, task: str, class_weights: str, seed: int) -> AutoSpec:
    return AutoSpec(
        models=candidates(task, [str(m) for m in auto.models], class_weights),
        max_trials=auto.max_trials,
        parallel_trials=auto.parallel_trials,
        time_budget_seconds=auto.time_budget_seconds,
        seed=auto.seed if auto.seed is not None else seed,
    )


def from_spec(spec: Any) -> JobConfig:
    """Map a validated `TrainingJobSpec` to the stages' inputs."""
    problem, prep, model = spec.problem, spec.preparation, spec.model
    task = str(problem.task)
    base_task = BASE_TASK[task]
    metric = str(problem.objective.metric)
    objective = Objective(
        metric=metric,
        direction=str(problem.objective.resolved_direction),
        threshold=problem.objective.threshold,
    )

    data = spec.data
    if data.dataset is not None:
        source = DataSource(dataset=str(data.dataset))
    else:
        src = data.source
        source = DataSource(
            uri=src.uri,
            validation_uri=src.validation_uri,
            test_uri=src.test_uri,
            format=str(src.resolved_format),
        )

    builtin = model.builtin
    split, cv = prep.resolved_split, prep.cross_validation
    seed = (split or cv).seed
    auto = _auto(model.auto, task, str(prep.class_weights), seed) if model.auto else None
    name = str(builtin.name) if builtin else (auto.models[0] if auto else "")
    hyper = _hyperparameters(name, dict(builtin.hyperparameters) if builtin else {})
    text = None
    if task == "text-classification":
        network = builtin is not None and str(builtin.name).startswith("text-")
        text = TextFeatures(
            column="",  # resolved from the data: the dataset's, `text`, or the only string column
            representation="tokens" if network else "tfidf",
            max_features=int(hyper.get("max_features", 20000)),
            ngram_max=int(hyper.get("ngram_max", 2)),
            vocab_size=int(hyper.get("vocab_size", 20000)),
            max_length=int(hyper.get("max_length", 256)),
        )
    image_shape = None
    if task == "image-classification" and data.dataset is not None:
        image_shape = builtin_info(str(data.dataset)).image_shape
    preparation = PrepSpec(
        task=base_task,
        target=problem.target,
        drop_duplicates=prep.drop_duplicates,
        columns=_columns(prep.features),
        missing=str(prep.missing.resolved_strategy(base_task == "forecasting")),
        fill_value=prep.missing.fill_value,
        scaling=str(prep.scaling),
        encoding=str(prep.encoding),
        validation=split.validation if split else 0.0,
        test=split.test if split else 0.0,
        seed=(split or cv).seed,
        stratify=prep.stratify,
        folds=cv.folds if cv else None,
        time_column=problem.time_column,
        horizon=problem.horizon or 1,
        lookback=problem.resolved_lookback or 1,
        season=problem.season,
        text=text,
        image_shape=image_shape,
    )

    training = model.resolved_training
    model_spec = None
    if name:
        training_spec = TrainingSpec()
        if training is not None:
            early = training.early_stopping
            training_spec = TrainingSpec(
                epochs=training.epochs,
                batch_size=training.batch_size,
                learning_rate=training.learning_rate,
                optimizer=str(training.optimizer),
                loss=str(training.loss) if training.loss else None,
                patience=early.patience if early else None,
                min_delta=early.min_delta if early else 0.0,
                weight_decay=training.weight_decay,
                dropout=training.dropout,
            )
        model_spec = ModelSpec(
            name=name,
            hyperparameters=hyper,
            training=training_spec,
            seed=preparation.seed,
            workers=spec.compute.workers,
            gpus_per_worker=spec.compute.gpus_per_worker or 0,
            strategy=str(spec.compute.strategy),
            class_weights=str(prep.class_weights),
        )
    custom = None
    if model.custom is not None:
        custom = CustomCode(
            command=[*model.custom.command, *model.custom.args],
            env={e.name: e.value for e in model.custom.env},
            epochs=training.epochs if training else None,
        )

    tuning = None
    if spec.tuning is not None:
        t = spec.tuning
        tuning = TuneSpec(
            algorithm=str(t.algorithm),
            search_space={
                name: SearchDomain(
                    type=str(d.type), values=d.values, low=d.low, high=d.high, step=d.step
                )
                for name, d in t.search_space.items()
            },
            max_trials=t.max_trials,
            parallel_trials=t.parallel_trials,
            max_failed_trials=t.max_failed_trials,
            scheduler=str(t.scheduler),
            grace_period=t.grace_period,
            time_budget_seconds=t.time_budget_seconds,
            seed=t.seed if t.seed is not None else preparation.seed,
            final_model=str(t.final_model),
        )

    return JobConfig(
        task=task,
        base_task=base_task,
        objective=objective,
        data=source,
        data_s3=data_s3_settings(data.s3) if data.source is not None else None,
        preparation=preparation,
        model=model_spec,
        custom=custom,
        tuning=tuning,
        checkpoint=CheckpointPolicy(every_epochs=spec.output.checkpoint_every_epochs),
        checkpoints_to_keep=spec.output.checkpoints_to_keep,
        spec=spec.to_kubernetes(),
        auto=auto,
    )


def resolve_text_column(config: JobConfig, data: LoadedData) -> JobConfig:
    """text-classification: the dataset's text column, `text`, or the only string column."""
    text = config.preparation.text
    if text is None or text.column:
        return config
    frame = data.train
    if data.info is not None and data.info.text_column:
        column = data.info.text_column
    elif "text" in frame.columns:
        column = "text"
    else:
        strings = [
            c for c in frame.columns if c != config.preparation.target and frame[c].dtype == object
        ]
        if len(strings) != 1:
            raise DataError(
                "text-classification needs one text column: name it `text`, or keep exactly one "
                f"string column besides the target (found {strings or 'none'})."
            )
        column = strings[0]
    prep = dataclasses.replace(config.preparation, text=dataclasses.replace(text, column=column))
    return dataclasses.replace(config, preparation=prep)
