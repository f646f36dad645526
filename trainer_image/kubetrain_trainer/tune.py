"""Stage 4, tuning: Ray Tune over the built-in model's hyperparameters.

`TuneSpec` mirrors the API's `tuning` section. `run_tuning` runs one Ray Tune experiment whose
trials each train the declared model with one point of the search space (in-process, one CPU),
report the validation objective (every epoch for networks, so ASHA and the median rule can stop
poor trials early) and keep their best model as a Tune checkpoint.

- grid: every combination of the (discrete) domains; random: `maxTrials` samples;
  bayesian: Optuna's TPE through `OptunaSearch`.
- schedulers: `asha` (ASHAScheduler, `max_t` = epochs) and `median` (MedianStoppingRule),
  both on `training_iteration` = epochs.
- `maxFailedTrials`: a callback counts errored trials and a stopper ends the experiment when the
  budget is exceeded, which then fails the stage; `timeBudgetSeconds` is Tune's `time_budget_s`.
- `finalModel: best-trial` keeps the best trial's checkpointed model; `retrain` trains again with
  its hyperparameters on training and validation data together.

Choice values that are not scalars (`hidden_units: [[32], [64, 32]]`) travel through Tune as
JSON strings, because Optuna's categorical distributions only hold scalars.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kubetrain_trainer.errors import InvalidSpecError, TrainerError

_JSON = "json:"


@dataclass(frozen=True)
class SearchDomain:
    type: str  # choice | uniform | loguniform | int
    values: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None


@dataclass(frozen=True)
class TuneSpec:
    search_space: dict[str, SearchDomain]
    algorithm: str = "random"  # grid | random | bayesian
    max_trials: int = 10
    parallel_trials: int = 1
    max_failed_trials: int = 0
    scheduler: str = "none"  # asha | median | none
    grace_period: int = 1
    time_budget_seconds: float | None = None
    seed: int = 42
    final_model: str = "best-trial"  # best-trial | retrain


@dataclass
class TuningResult:
    best_params: dict[str, Any]
    best_value: float | None
    best_epoch: int | None
    trials: list[dict[str, Any]] = field(default_factory=list)
    errored: int = 0
    stopped_early: int = 0
    total_epochs: int = 0
    best_model: Any = None  # TrainedModel of the best trial (finalModel best-trial)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "trials": len(self.trials),
            "errored": self.errored,
            "stoppedEarly": self.stopped_early,
            "totalEpochs": self.total_epochs,
            "bestConfig": self.best_params,
            "bestValue": self.best_value,
            "seconds": round(self.seconds, 3),
        }


def _encode(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else _JSON + json.dumps(value)


def decode_params(config: dict[str, Any]) -> dict[str, Any]:
    return {
        k: json.loads(v[len(_JSON) :]) if isinstance(v, str) and v.startswith(_JSON) else v
        for k, v in config.items()
    }


def _int_values(d: SearchDomain) -> list[int]:
    assert d.low is not None and d.high is not None
    return list(range(int(d.low), int(d.high) + 1, int(d.step or 1)))


def param_space(spec: TuneSpec) -> dict[str, Any]:
    from ray import tune

    space: dict[str, Any] = {}
    for name, d in spec.search_space.items():
        if spec.algorithm == "grid":
            if d.type == "choice":
                space[name] = tune.grid_search([_encode(v) for v in d.values or []])
            elif d.type == "int":
                space[name] = tune.grid_search(_int_values(d))
            else:
                raise InvalidSpecError(f"grid search needs discrete domains; {name} is {d.type}.")
            continue
        if d.type == "choice":
            space[name] = tune.choice([_encode(v) for v in d.values or []])
        elif d.type == "int":
            assert d.low is not None and d.high is not None
            space[name] = tune.qrandint(int(d.low), int(d.high), int(d.step or 1))
        elif d.type == "uniform":
            assert d.low is not None and d.high is not None
            space[name] = (
                tune.quniform(d.low, d.high, d.step) if d.step else tune.uniform(d.low, d.high)
            )
        elif d.type == "loguniform":
            assert d.low is not None and d.high is not None
            space[name] = tune.loguniform(d.low, d.high)
        else:
            raise InvalidSpecError(f"unknown search domain type {d.type!r} for {name}.")
    return space


@dataclass
class TrialContext:
    """What every trial needs; shipped once to the object store by `tune.with_parameters`."""

    task: str
    model: Any  # train.ModelSpec
    train: Any  # prepare.Arrays
    validation: Any
    preprocessor: Any
    objective: Any  # evaluate.Objective


def objective_value(ctx: TrialContext, pred: np.ndarray, proba: np.ndarray | None) -> float:
    from kubetrain_trainer.evaluate import score

    arrays = ctx.validation
    if ctx.task == "classification":
        metrics = score(ctx.task, arrays.y, pred, proba, len(ctx.preprocessor.classes))
    else:
        inv = ctx.preprocessor.inverse_target
        metrics = score(ctx.task, inv(arrays.y, arrays.offset), inv(pred, arrays.offset))
    value = metrics.get(ctx.objective.metric)
    if value is None or not math.isfinite(value):
        return -math.inf if ctx.objective.direction == "maximize" else math.inf
    return float(value)


def _trial(config: dict[str, Any], ctx: TrialContext) -> None:
    """One trial: train with this point of the search space, report the objective."""
    import joblib
    from ray import tune

    from kubetrain_trainer.torch_train import LoopHooks, network_predict
    from kubetrain_trainer.train import train

    spec = ctx.model.with_params(decode_params(config))
    better = ctx.objective.better
    best: dict[str, Any] = {"value": None, "model": None}

    def report(value: float, epoch: int, model_fn: Any, last: bool) -> None:
        # Only the trial's last report carries a checkpoint (its best model so far): Tune's
        # checkpoint persistence costs more than a small epoch. A trial the scheduler stops
        # early leaves none, and cannot be the best one anyway.
        metrics = {"objective": value, ctx.objective.metric: value, "epoch": epoch}
        if best["value"] is None or better(value, best["value"]):
            best["value"], best["model"] = value, model_fn()
        if not last:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as tmp:
            joblib.dump(best["model"], Path(tmp) / "model.joblib")
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))

    if spec.family == "sklearn":
        result = train(spec, ctx.task, ctx.train, None, ctx.preprocessor)
        pred, proba = result.model.predict_arrays(ctx.validation.x)
        report(objective_value(ctx, pred, proba), 1, lambda: result.model, last=True)
        return

    from kubetrain_trainer.predict import TrainedModel
    from kubetrain_trainer.torch_train import fit_network
    from kubetrain_trainer.train import build_network_def

    definition = build_network_def(spec, ctx.task, ctx.preprocessor, ctx.train)
    current: dict[str, Any] = {}
    epochs = spec.training.epochs

    def on_epoch(record: dict[str, Any], val_out: np.ndarray | None) -> None:
        assert val_out is not None
        state = {k: v.detach().clone() for k, v in current["model"].state_dict().items()}
        pred, proba = network_predict(definition, state, ctx.task, ctx.validation.x)
        model_fn = lambda: TrainedModel(  # noqa: E731
            ctx.task, "torch", ctx.preprocessor, network=definition, state_dict=state
        )
        value = objective_value(ctx, pred, proba)
        report(value, record["epoch"], model_fn, last=record["epoch"] >= epochs)

    outcome = fit_network(
        ctx.task, definition, spec.training, ctx.train, ctx.validation, seed=spec.seed,
        hooks=LoopHooks(on_epoch=on_epoch),
        wrap_model=lambda m: current.setdefault("model", m),
    )  # fmt: skip
    if outcome.stopped_early:  # early stopping ended it before the last epoch: checkpoint now
        with tempfile.TemporaryDirectory() as tmp:
            joblib.dump(best["model"], Path(tmp) / "model.joblib")
            last_epoch = outcome.history[-1]["epoch"] if outcome.history else 0
            tune.report(
                {"objective": best["value"], ctx.objective.metric: best["value"],
                 "epoch": last_epoch},
                checkpoint=tune.Checkpoint.from_directory(tmp),
            )  # fmt: skip


class _FailureBudget:
    """Counts errored trials (as a Tune callback) and stops the experiment past the budget."""

    def __init__(self, max_failed: int) -> None:
        self.max_failed = max_failed
        self.errored = 0


def run_tuning(
    spec: TuneSpec,
    ctx: TrialContext,
    *,
    progress: Any = None,
    storage_dir: Path | None = None,
) -> TuningResult:
    import ray
    from ray import tune
    from ray.tune import Callback, Stopper
    from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    started = time.monotonic()
    mode = ctx.objective.mode
    epochs = ctx.model.training.epochs if ctx.model.family == "torch" else 1
    budget = _FailureBudget(spec.max_failed_trials)
    state: dict[str, Any] = {"done": 0, "best": None}
    total = spec.max_trials

    class Budget(Callback):
        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            budget.errored += 1
            self._progress()

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                            **info: Any) -> None:  # fmt: skip
            value = result.get("objective")
            if value is not None and (
                state["best"] is None or ctx.objective.better(value, state["best"])
            ):
                state["best"] = value

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._progress()

        def _progress(self) -> None:
            state["done"] += 1
            if progress is not None:
                progress.update("tuning", completed=state["done"], total=total, unit="trials",
                                best=(ctx.objective.metric, state["best"]))  # fmt: skip

    class StopOnFailures(Stopper):
        def __call__(self, trial_id: str, result: dict) -> bool:
            return False

        def stop_all(self) -> bool:
            return budget.errored > budget.max_failed

    if spec.algorithm == "bayesian":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        search: Any = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=spec.seed))
        search = ConcurrencyLimiter(search, max_concurrent=spec.parallel_trials)
        num_samples = spec.max_trials
    else:
        # Tune ignores max_concurrent_trials for a SearchGenerator: the limit goes here.
        search = BasicVariantGenerator(random_state=spec.seed, max_concurrent=spec.parallel_trials)
        num_samples = 1 if spec.algorithm == "grid" else spec.max_trials
    scheduler: Any = None
    if spec.scheduler == "asha" and epochs > 1:
        scheduler = ASHAScheduler(
            time_attr="training_iteration", max_t=epochs,
            grace_period=min(spec.grace_period, epochs), reduction_factor=3,
        )  # fmt: skip
    elif spec.scheduler == "median" and epochs > 1:
        scheduler = MedianStoppingRule(
            time_attr="training_iteration", grace_period=spec.grace_period,
            min_samples_required=2,
        )  # fmt: skip

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    with tempfile.TemporaryDirectory(prefix="kubetrain-tune-") as tmp:
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(_trial, ctx=ctx), {"cpu": 1}),
            param_space=param_space(spec),
            tune_config=tune.TuneConfig(
                metric="objective",
                mode=mode,
                search_alg=search,
                scheduler=scheduler,
                num_samples=num_samples,
                time_budget_s=spec.time_budget_seconds,
            ),
            run_config=tune.RunConfig(
                name="tuning",
                storage_path=str(storage_dir or tmp),
                stop=StopOnFailures(),
                callbacks=[Budget()],
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=1,
                    checkpoint_score_attribute="objective",
                    checkpoint_score_order=mode,
                ),
                verbose=0,
            ),
        )
        grid = tuner.fit()
        trials: list[dict[str, Any]] = []
        total_epochs, stopped = 0, 0
        for result in (grid[i] for i in range(len(grid))):
            metrics = result.metrics or {}
            iterations = int(metrics.get("training_iteration", 0) or 0)
            total_epochs += iterations
            if result.error is None and iterations < epochs:
                stopped += 1
            best_value = _best_of(result, mode)
            trials.append(
                {
                    "params": decode_params(result.config or {}),
                    "objective": best_value,
                    "epochs": iterations,
                    "error": None if result.error is None else str(result.error).splitlines()[0],
                }
            )
        if budget.errored > spec.max_failed_trials:
            raise TrainerError(
                f"tuning failed: {budget.errored} trials failed, more than maxFailedTrials "
                f"({spec.max_failed_trials}); first error: "
                + str(next((t["error"] for t in trials if t["error"]), "unknown"))
            )
        ok = [t for t in trials if t["objective"] is not None and t["error"] is None]
        if not ok:
            raise TrainerError("tuning failed: no trial reported a result.")
        best_result = grid.get_best_result(metric="objective", mode=mode, scope="all")
        best_model = None
        checkpoint = best_result.get_best_checkpoint("objective", mode)
        best_epoch = None
        if checkpoint is not None:
            import joblib

            with checkpoint.as_directory() as directory:
                best_model = joblib.load(Path(directory) / "model.joblib")
        history = best_result.metrics_dataframe
        if history is not None and "objective" in history:
            column = history["objective"]
            best_epoch = int(
                history["epoch"][column.idxmax() if mode == "max" else column.idxmin()]
            )
        return TuningResult(
            best_params=decode_params(best_result.config or {}),
            best_value=_best_of(best_result, mode),
            best_epoch=best_epoch,
            trials=trials,
            errored=budget.errored,
            stopped_early=stopped,
            total_epochs=total_epochs,
            best_model=best_model,
            seconds=time.monotonic() - started,
        )


def _best_of(result: Any, mode: str) -> float | None:
    frame = result.metrics_dataframe
    if frame is None or "objective" not in frame or frame["objective"].dropna().empty:
        return None
    column = frame["objective"].dropna()
    return float(column.max() if mode == "max" else column.min())
