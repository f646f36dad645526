"""Stage 4, tuning: Ray Tune over the built-in model's hyperparameters.

`TuneSpec` mirrors the API's `tuning` section. `run_tuning` runs one Ray Tune experiment whose
trials each train the declared model with one point of the search space (in-process, one CPU),
report the validation objective (every epoch for networks, so ASHA and the median rule can stop
poor trials early) and keep their best model as a Tune checkpoint.

- grid: every combination of the (discrete) domains; random: `maxTrials` samples (both spelled
  out up front by `planned_configs`, seeded); bayesian: Optuna's TPE through `OptunaSearch`.
- resume: with a `TrialLog` (see `trial_log`), each finished trial is written to the job's
  storage; a new attempt runs only the planned configurations without a record (grid, random),
  or seeds Optuna's study with the recorded results and runs the rest of `maxTrials`
  (bayesian). The best trial is chosen over both attempts. SIGTERM ends the search and raises
  `Interrupted` (exit 143) with the finished trials kept.
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

import hashlib
import itertools
import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kubetrain_trainer.checkpoint import CheckpointPolicy, CheckpointStore, StopSignal
from kubetrain_trainer.errors import Interrupted, InvalidSpecError, TrainerError
from kubetrain_trainer.ray_train import ray_storage
from kubetrain_trainer.storage import Storage
from kubetrain_trainer.trial_log import TrialLog

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
    resumed: int = 0  # trials finished by earlier attempts, not run again
    best_model: Any = None  # TrainedModel of the best trial (finalModel best-trial)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "trials": len(self.trials),
            "errored": self.errored,
            "stoppedEarly": self.stopped_early,
            "totalEpochs": self.total_epochs,
            "resumedTrials": self.resumed,
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


def _grid_values(name: str, d: SearchDomain) -> list[Any]:
    if d.type == "choice":
        return [_encode(v) for v in d.values or []]
    if d.type == "int":
        return list(_int_values(d))
    raise InvalidSpecError(f"grid search needs discrete domains; {name} is {d.type}.")


def param_space(spec: TuneSpec) -> dict[str, Any]:
    """Tune domains of the search space (a grid's discrete domains become choices: the grid
    itself is spelled out by `planned_configs`)."""
    from ray import tune

    space: dict[str, Any] = {}
    for name, d in spec.search_space.items():
        if spec.algorithm == "grid":
            space[name] = tune.choice(_grid_values(name, d))
        elif d.type == "choice":
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


def planned_configs(spec: TuneSpec) -> list[dict[str, Any]] | None:
    """grid and random: every configuration of the search, in order (as Tune sees them).

    Spelled out here rather than left to Tune's generator so that a new attempt knows which
    configurations earlier attempts finished: the list depends only on the spec and its seed.
    Bayesian search has no plan (each point depends on the results so far): None.
    """
    if spec.algorithm == "grid":
        names = list(spec.search_space)
        values = [_grid_values(name, spec.search_space[name]) for name in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
    if spec.algorithm == "random":
        rng = np.random.RandomState(spec.seed)
        space = param_space(spec)
        return [
            {name: _native(domain.sample(random_state=rng)) for name, domain in space.items()}
            for _ in range(spec.max_trials)
        ]
    return None


def _native(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _config_key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


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


def _trial(
    config: dict[str, Any], ctx: TrialContext, stop: StopSignal | None, partial: _Partial | None
) -> None:
    """One trial: train with this point of the search space, report the objective.

    A network trial polls `stop` between batches; on a stop request it saves its training
    state under `partial` (a Storage: `<job>/tuning/<fingerprint>/partial`, keyed by its
    configuration) and ends, and a trial of the same configuration in a later attempt resumes
    from there.
    """
    import joblib
    import ray
    from ray import tune

    from kubetrain_trainer.torch_train import LoopHooks, network_predict, pick_device
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
        weights = current["model"].state_dict().items()
        state = {k: v.detach().to("cpu", copy=True) for k, v in weights}
        pred, proba = network_predict(definition, state, ctx.task, ctx.validation.x)
        model_fn = lambda: TrainedModel(  # noqa: E731
            ctx.task, "torch", ctx.preprocessor, network=definition, state_dict=state
        )
        value = objective_value(ctx, pred, proba)
        report(value, record["epoch"], model_fn, last=record["epoch"] >= epochs)

    store = partial.store(config) if partial is not None else None
    outcome = fit_network(
        ctx.task, definition, spec.training, ctx.train, ctx.validation, seed=spec.seed,
        hooks=LoopHooks(on_epoch=on_epoch, stop=stop, checkpoints=store),
        device=pick_device(use_gpu=bool(ray.get_gpu_ids())),
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


@dataclass(frozen=True)
class _Partial:
    """Where stopped trials keep their training state (`<job>/tuning/<fingerprint>/partial`),
    and the attempt that writes there."""

    storage: Storage
    attempt: str

    def store(self, config: dict[str, Any]) -> CheckpointStore:
        """The checkpoints of trials of `config`: saved on SIGTERM, resumed by a later trial."""
        key = hashlib.sha256(_config_key(config).encode()).hexdigest()[:16]
        # No periodic saves (one per epoch per trial costs more than the epoch): SIGTERM only.
        policy = CheckpointPolicy(every_epochs=None)
        return CheckpointStore(self.storage.child(key), self.attempt, key, policy, keep=1)


def trial_resources(spec: TuneSpec, model: Any, cluster: dict[str, float]) -> dict[str, float]:
    """What one trial asks Ray for, from the compute spec and the Ray cluster it runs on.

    `compute.workers` pods of equal size (`cluster` / workers CPUs each, `gpusPerWorker` GPUs
    each) share `parallelTrials` trials: a trial gets a whole number of its worker's CPUs (at
    least one) and its share of the worker's GPUs. GPUs are asked for only when the cluster
    has some (a laptop's Ray has none: there trials train on the CPU, as Ray Train does).
    """
    workers = max(1, int(model.workers))
    sharing = max(1, math.ceil(spec.parallel_trials / workers))
    cpus_per_worker = float(cluster.get("CPU", 1.0)) / workers
    resources = {"cpu": float(max(1, math.floor(cpus_per_worker / sharing)))}
    gpus = float(model.gpus_per_worker or 0)
    if gpus > 0 and float(cluster.get("GPU", 0.0)) > 0:
        resources["gpu"] = gpus / sharing if gpus >= 1 else gpus
    return resources


class _FailureBudget:
    """Counts errored trials (as a Tune callback) and stops the experiment past the budget."""

    def __init__(self, max_failed: int) -> None:
        self.max_failed = max_failed
        self.errored = 0


@dataclass
class _Pending:
    """What this attempt runs, after the trials earlier attempts finished (`past`)."""

    points: list[dict[str, Any]]  # grid/random: the configurations left, in plan order
    plan_keys: dict[str, list[str]]  # grid/random: config → keys of its unfinished plan entries
    past: list[dict[str, Any]]
    num_samples: int
    planned: int  # trials in the whole search


def _pending(spec: TuneSpec, log: TrialLog | None) -> _Pending:
    past = log.finished() if log is not None else []
    plan = planned_configs(spec)
    if plan is None:  # bayesian: earlier results seed the sampler, the rest of maxTrials runs
        kept = [t for t in past if t.get("objective") is not None]
        left = max(0, spec.max_trials - len(kept))
        return _Pending([], {}, kept, left, spec.max_trials)
    done = {t.get("key"): t for t in past}
    points: list[dict[str, Any]] = []
    plan_keys: dict[str, list[str]] = {}
    kept = []
    for index, config in enumerate(plan):
        key = f"plan-{index:05d}"
        record = done.get(key)
        if record is not None and _config_key(record.get("config", {})) == _config_key(config):
            kept.append(record)
            continue
        points.append(config)
        plan_keys.setdefault(_config_key(config), []).append(key)
    return _Pending(points, plan_keys, kept, len(points), len(plan))


def _search(spec: TuneSpec, pending: _Pending) -> tuple[Any, int]:
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    if spec.algorithm == "bayesian":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        search: Any = OptunaSearch(
            sampler=optuna.samplers.TPESampler(seed=spec.seed),
            # Trials of earlier attempts enter the study as finished ones (not run again).
            points_to_evaluate=[t["config"] for t in pending.past] or None,
            evaluated_rewards=[t["objective"] for t in pending.past] or None,
        )
        return ConcurrencyLimiter(search, max_concurrent=spec.parallel_trials), pending.num_samples
    # Tune ignores max_concurrent_trials for a SearchGenerator: the limit goes here. Each
    # planned point replaces one sample, so num_samples = the points left.
    search = BasicVariantGenerator(
        points_to_evaluate=pending.points, random_state=spec.seed,
        max_concurrent=spec.parallel_trials,
    )  # fmt: skip
    return search, pending.num_samples


def _scheduler(spec: TuneSpec, epochs: int) -> Any:
    from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule

    if spec.scheduler == "asha" and epochs > 1:
        return ASHAScheduler(
            time_attr="training_iteration", max_t=epochs,
            grace_period=min(spec.grace_period, epochs), reduction_factor=3,
        )  # fmt: skip
    if spec.scheduler == "median" and epochs > 1:
        return MedianStoppingRule(
            time_attr="training_iteration", grace_period=spec.grace_period,
            min_samples_required=2,
        )  # fmt: skip
    return None


def run_tuning(
    spec: TuneSpec,
    ctx: TrialContext,
    *,
    progress: Any = None,
    log: TrialLog | None = None,
    stop: StopSignal | None = None,
) -> TuningResult:
    """Run the search; with a `log`, skip the trials earlier attempts finished and record the
    ones this attempt finishes; with a `stop` signal, SIGTERM ends the search (`Interrupted`)."""
    import ray
    from ray import tune
    from ray.tune import Callback, Stopper

    started = time.monotonic()
    mode = ctx.objective.mode
    better = ctx.objective.better
    epochs = ctx.model.training.epochs if ctx.model.family == "torch" else 1
    budget = _FailureBudget(spec.max_failed_trials)
    pending = _pending(spec, log)
    best_past = _best_record(pending.past, better)
    state: dict[str, Any] = {
        "done": len(pending.past),
        "best": best_past["objective"] if best_past else None,
    }
    per_trial: dict[str, dict[str, Any]] = {}
    keep_models = spec.final_model == "best-trial"

    def publish(force: bool) -> None:
        if progress is not None:
            best = (ctx.objective.metric, state["best"])
            progress.update("tuning", completed=state["done"], total=pending.planned,
                            unit="trials", best=best, force=force)  # fmt: skip

    class Budget(Callback):
        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            if stop is not None and stop.requested():
                return  # stopped by SIGTERM (it saved its state), not a failure
            budget.errored += 1
            self._progress()

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                            **info: Any) -> None:  # fmt: skip
            value = result.get("objective")
            if value is None:
                return
            if state["best"] is None or better(value, state["best"]):
                state["best"] = value
            mine = per_trial.setdefault(trial.trial_id, {"objective": None, "bestEpoch": None})
            if mine["objective"] is None or better(value, mine["objective"]):
                mine.update(objective=value, bestEpoch=result.get("epoch"))

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._progress()
            if log is not None:
                _record(log, trial, per_trial.get(trial.trial_id, {}), pending, epochs,
                        keep_models)  # fmt: skip

        def _progress(self) -> None:
            state["done"] += 1
            publish(force=state["done"] >= pending.planned)

    class StopOnFailures(Stopper):
        def __call__(self, trial_id: str, result: dict) -> bool:
            return False

        def stop_all(self) -> bool:
            sigterm = stop is not None and stop.requested()
            return sigterm or budget.errored > budget.max_failed

    search, num_samples = _search(spec, pending)
    rows: list[dict[str, Any]] = [_past_row(t) for t in pending.past]
    new_best: dict[str, Any] | None = None
    if num_samples > 0:
        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        store = log.storage if log is not None else None
        run_attempt = log.attempt if log is not None else "0"
        partial = None if store is None else _Partial(store.child("partial"), run_attempt)
        resources = trial_resources(spec, ctx.model, ray.cluster_resources())
        with tempfile.TemporaryDirectory(prefix="kubetrain-tune-") as tmp:
            trainable = tune.with_parameters(_trial, ctx=ctx, stop=stop, partial=partial)
            tuner = tune.Tuner(
                tune.with_resources(trainable, resources),
                param_space=param_space(spec),
                tune_config=tune.TuneConfig(
                    metric="objective",
                    mode=mode,
                    search_alg=search,
                    scheduler=_scheduler(spec, epochs),
                    num_samples=num_samples,
                    time_budget_s=spec.time_budget_seconds,
                    # Ray's default starts a new actor process per trial, which then imports
                    # torch and scikit-learn again: seconds per trial, longer than a short
                    # trial itself (benchmarks/trainer.py, part tune).
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name="tuning",
                    # Trials on every pod checkpoint there, and the driver reads them back.
                    **ray_storage(store, tmp, "ray", run_attempt),
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
            if stop is not None:
                stop.reclaim()
            grid = tuner.fit()
            _raise_if_stopped(stop, log)  # trials it cut short have no result to choose from
            publish(force=True)  # the last count, never lost to the progress interval
            attempt = log.attempt if log is not None else None
            rows += [_result_row(grid[i], mode, epochs, attempt) for i in range(len(grid))]
            if any(
                r["error"] is None and r["objective"] is not None for r in rows[len(pending.past) :]
            ):
                new_best = _best_of_grid(grid, mode)
    _raise_if_stopped(stop, log)
    if budget.errored > spec.max_failed_trials:
        raise TrainerError(
            f"tuning failed: {budget.errored} trials failed, more than maxFailedTrials "
            f"({spec.max_failed_trials}); first error: "
            + str(next((t["error"] for t in rows if t["error"]), "unknown"))
        )
    if not any(r["objective"] is not None and r["error"] is None for r in rows):
        raise TrainerError("tuning failed: no trial reported a result.")
    if best_past is not None and (
        new_best is None or better(best_past["objective"], new_best["best_value"])
    ):
        new_best = {
            "best_params": decode_params(best_past["config"]),
            "best_value": best_past["objective"],
            "best_epoch": best_past.get("bestEpoch"),
            "best_model": log.best_model(best_past["key"]) if log and keep_models else None,
        }
    assert new_best is not None
    return TuningResult(
        **new_best,
        trials=rows,
        errored=budget.errored,
        stopped_early=sum(1 for r in rows if r["error"] is None and r["epochs"] < epochs),
        total_epochs=sum(r["epochs"] for r in rows),
        resumed=len(pending.past),
        seconds=time.monotonic() - started,
    )


def _raise_if_stopped(stop: StopSignal | None, log: TrialLog | None) -> None:
    if stop is not None and stop.requested():
        kept = "" if log is None else f"; {len(log.finished())} finished trials are kept"
        raise Interrupted(f"stopped by SIGTERM during tuning{kept}.")


def _record(
    log: TrialLog,
    trial: Any,
    best: dict[str, Any],
    pending: _Pending,
    epochs: int,
    keep_models: bool,
) -> None:
    """Persist a trial Tune reports complete (finished, or stopped by the scheduler)."""
    config = dict(trial.config or {})
    keys = pending.plan_keys.get(_config_key(config))
    key = keys.pop(0) if keys else f"attempt-{log.attempt}-{trial.trial_id}"
    last = trial.last_result or {}
    # A trial resumed from a stopped one's state reports its epochs, not Tune's iterations.
    ran = int(last.get("epoch") or last.get("training_iteration") or 0)
    checkpoint = trial.checkpoint if keep_models else None

    def model() -> Any:
        import joblib

        assert checkpoint is not None
        with checkpoint.as_directory() as directory:
            return joblib.load(Path(directory) / "model.joblib")

    record = {
        "key": key,
        "config": config,
        "params": decode_params(config),
        "objective": best.get("objective"),
        "bestEpoch": best.get("bestEpoch"),
        "epochs": ran,
        "stoppedEarly": ran < epochs,
    }
    log.record(record, model if checkpoint is not None else None)


def _past_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "params": record.get("params", decode_params(record.get("config", {}))),
        "objective": record.get("objective"),
        "epochs": int(record.get("epochs", 0)),
        "error": None,
        "attempt": record.get("attempt"),
    }


def _result_row(result: Any, mode: str, epochs: int, attempt: str | None) -> dict[str, Any]:
    metrics = result.metrics or {}
    return {
        "params": decode_params(result.config or {}),
        "objective": _best_of(result, mode),
        "epochs": int(metrics.get("training_iteration", 0) or 0),
        "error": None if result.error is None else str(result.error).splitlines()[0],
        "attempt": attempt,
    }


def _best_record(records: list[dict[str, Any]], better: Any) -> dict[str, Any] | None:
    best = None
    for record in records:
        value = record.get("objective")
        if value is not None and (best is None or better(value, best["objective"])):
            best = record
    return best


def _best_of_grid(grid: Any, mode: str) -> dict[str, Any]:
    """The best trial of this attempt's Tune run: its config, value, best epoch and model."""
    best_result = grid.get_best_result(metric="objective", mode=mode, scope="all")
    best_model = None
    checkpoint = (
        best_result.get_best_checkpoint("objective", mode) if best_result.best_checkpoints else None
    )
    if checkpoint is not None:
        import joblib

        with checkpoint.as_directory() as directory:
            best_model = joblib.load(Path(directory) / "model.joblib")
    best_epoch = None
    history = best_result.metrics_dataframe
    if history is not None and "objective" in history:
        column = history["objective"]
        best_epoch = int(history["epoch"][column.idxmax() if mode == "max" else column.idxmin()])
    return {
        "best_params": decode_params(best_result.config or {}),
        "best_value": _best_of(best_result, mode),
        "best_epoch": best_epoch,
        "best_model": best_model,
    }


def _best_of(result: Any, mode: str) -> float | None:
    frame = result.metrics_dataframe
    if frame is None or "objective" not in frame or frame["objective"].dropna().empty:
        return None
    column = frame["objective"].dropna()
    return float(column.max() if mode == "max" else column.min())
