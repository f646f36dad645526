"""Stage 3, tuning: Ray Tune over the built-in model's hyperparameters.

`run_tuning` runs one Ray Tune experiment whose trials each train the declared model with one
point of the search space (`trial`), on the configurations this attempt has left (`plan`),
and returns the best trial over this and earlier attempts (`results`).

- algorithms: grid and random run the planned configurations (`space.planned_configs`);
  bayesian is Optuna's TPE through `OptunaSearch`, seeded with earlier attempts' results.
- resume: with a `TrialLog`, each finished trial is written to the job's storage
  (`callbacks.TrialRecorder`) and a new attempt runs only what is left. SIGTERM ends the search
  and raises `Interrupted` (exit 143) with the finished trials kept.
- schedulers: `asha` (ASHAScheduler, `max_t` = epochs) and `median` (MedianStoppingRule),
  both on `training_iteration` = epochs.
- `maxFailedTrials`: `callbacks.TrialCounter` counts errored trials and
  `callbacks.StopOnFailures` ends the experiment past the budget, which then fails the stage;
  `timeBudgetSeconds` is Tune's `time_budget_s`.
- `finalModel: best-trial` keeps the best trial's checkpointed model; `retrain` trains again with
  its hyperparameters on training and validation data together.
"""

from __future__ import annotations

import tempfile
import time
from typing import TYPE_CHECKING, Any

from kubetrain_trainer.errors import Interrupted, TrainerError
from kubetrain_trainer.models.ray_train import ray_storage
from kubetrain_trainer.runtime.checkpoint import StopSignal
from kubetrain_trainer.runtime.progress import ProgressReporter
from kubetrain_trainer.tuning.plan import Pending, pending
from kubetrain_trainer.tuning.results import (
    BestTrial,
    TuningResult,
    best_of_grid,
    best_record,
    choose_best,
    past_row,
    result_row,
)
from kubetrain_trainer.tuning.space import TuneSpec, param_space
from kubetrain_trainer.tuning.trial import PartialStates, TrialContext, run_trial, trial_resources
from kubetrain_trainer.tuning.trial_log import TrialLog

if TYPE_CHECKING:
    from kubetrain_trainer.tuning.callbacks import ProgressPublisher, SearchState

# The names the workflow, `auto` and the tests use from the stage's entry module.
__all__ = ["TrialContext", "TuneSpec", "TuningResult", "run_tuning", "trial_resources"]


def run_tuning(
    spec: TuneSpec,
    ctx: TrialContext,
    *,
    progress: ProgressReporter | None = None,
    log: TrialLog | None = None,
    stop: StopSignal | None = None,
) -> TuningResult:
    """Run the search; with a `log`, skip the trials earlier attempts finished and record the
    ones this attempt finishes; with a `stop` signal, SIGTERM ends the search (`Interrupted`)."""
    from kubetrain_trainer.tuning.callbacks import ProgressPublisher, SearchState

    started = time.monotonic()
    better = ctx.objective.better
    left = pending(spec, log)
    best_past = best_record(left.past, better)
    state = SearchState(done=len(left.past), best=best_past["objective"] if best_past else None)
    publisher = ProgressPublisher(progress, ctx.objective.metric, left.planned, state)
    rows = [past_row(t) for t in left.past]
    new_best = None
    if left.num_samples > 0:
        new_rows, new_best = _run_trials(spec, ctx, left, state, publisher, log, stop)
        rows += new_rows
    _raise_if_stopped(stop, log)
    _raise_if_failed(spec, state.errored, rows)
    best = choose_best(best_past, new_best, better, log, spec.final_model == "best-trial")
    if best is None:  # a finished row exists, so one of the two has a best trial
        raise TrainerError("tuning failed: no trial reported a result.")
    epochs = _epochs(ctx)
    return TuningResult(
        best_params=best.params,
        best_value=best.value,
        best_epoch=best.epoch,
        best_model=best.model,
        trials=rows,
        errored=state.errored,
        stopped_early=sum(1 for r in rows if r["error"] is None and r["epochs"] < epochs),
        total_epochs=sum(r["epochs"] for r in rows),
        resumed=len(left.past),
        seconds=time.monotonic() - started,
    )


def _epochs(ctx: TrialContext) -> int:
    """Tune's iterations per trial: a network's epochs, one for a scikit-learn fit."""
    return ctx.model.training.epochs if ctx.model.family == "torch" else 1


def _run_trials(
    spec: TuneSpec,
    ctx: TrialContext,
    left: Pending,
    state: SearchState,
    publisher: ProgressPublisher,
    log: TrialLog | None,
    stop: StopSignal | None,
) -> tuple[list[dict[str, Any]], BestTrial | None]:
    """This attempt's Tune run: the rows of its trials and its best trial (None if none
    reported a result)."""
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    mode, epochs = ctx.objective.mode, _epochs(ctx)
    with tempfile.TemporaryDirectory(prefix="kubetrain-tune-") as tmp:
        tuner = _tuner(spec, ctx, left, state, publisher, log, stop, tmp)
        if stop is not None:
            stop.reclaim()
        grid = tuner.fit()
        _raise_if_stopped(stop, log)  # trials it cut short have no result to choose from
        publisher.publish(force=True)  # the last count, never lost to the progress interval
        attempt = log.attempt if log is not None else None
        rows = [result_row(grid[i], mode, epochs, attempt) for i in range(len(grid))]
        finished = any(r["error"] is None and r["objective"] is not None for r in rows)
        return rows, best_of_grid(grid, mode) if finished else None


def _tuner(
    spec: TuneSpec,
    ctx: TrialContext,
    left: Pending,
    state: SearchState,
    publisher: ProgressPublisher,
    log: TrialLog | None,
    stop: StopSignal | None,
    tmp: str,
) -> Any:
    """The Tune experiment: the trainable with its resources, the search, the scheduler, the
    callbacks, and where trials checkpoint (the job's storage, so every pod can reach it)."""
    import ray
    from ray import tune

    from kubetrain_trainer.tuning.callbacks import (
        BestTracker,
        StopOnFailures,
        TrialCounter,
        TrialRecorder,
    )

    mode, epochs = ctx.objective.mode, _epochs(ctx)
    store = log.storage if log is not None else None
    run_attempt = log.attempt if log is not None else "0"
    partial = None if store is None else PartialStates(store.child("partial"), run_attempt)
    callbacks = [TrialCounter(state, publisher, stop), BestTracker(state, ctx.objective.better)]
    if log is not None:
        keep_models = spec.final_model == "best-trial"
        callbacks.append(TrialRecorder(log, state, left, epochs, keep_models))
    trainable = tune.with_parameters(run_trial, ctx=ctx, stop=stop, partial=partial)
    cluster = ray.cluster_resources()  # type: ignore[no-untyped-call]
    resources = trial_resources(spec, ctx.model, cluster)
    return tune.Tuner(
        tune.with_resources(trainable, resources),
        param_space=param_space(spec),
        tune_config=tune.TuneConfig(
            metric="objective",
            mode=mode,
            search_alg=_search(spec, left),
            scheduler=_scheduler(spec, epochs),
            num_samples=left.num_samples,
            time_budget_s=spec.time_budget_seconds,
            # Ray's default starts a new actor process per trial, which then imports torch
            # and scikit-learn again: seconds per trial, longer than a short trial itself
            # (benchmarks/trainer.py, part tune).
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name="tuning",
            # Trials on every pod checkpoint there, and the driver reads them back.
            **ray_storage(store, tmp, "ray", run_attempt),
            stop=StopOnFailures(state, spec.max_failed_trials, stop),
            callbacks=callbacks,
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=1,
                checkpoint_score_attribute="objective",
                checkpoint_score_order=mode,
            ),
            verbose=0,
        ),
    )


def _raise_if_failed(spec: TuneSpec, errored: int, rows: list[dict[str, Any]]) -> None:
    """More failed trials than the budget allows, or no trial with a result: the stage fails."""
    if errored > spec.max_failed_trials:
        raise TrainerError(
            f"tuning failed: {errored} trials failed, more than maxFailedTrials "
            f"({spec.max_failed_trials}); first error: "
            + str(next((t["error"] for t in rows if t["error"]), "unknown"))
        )
    if not any(r["objective"] is not None and r["error"] is None for r in rows):
        raise TrainerError("tuning failed: no trial reported a result.")


def _search(spec: TuneSpec, left: Pending) -> Any:
    """The search algorithm: Optuna for bayesian, else the planned points left, in order."""
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    if spec.algorithm == "bayesian":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        search: Any = OptunaSearch(
            sampler=optuna.samplers.TPESampler(seed=spec.seed),
            # Trials of earlier attempts enter the study as finished ones (not run again).
            points_to_evaluate=[t["config"] for t in left.past] or None,
            evaluated_rewards=[t["objective"] for t in left.past] or None,
        )
        return ConcurrencyLimiter(search, max_concurrent=spec.parallel_trials)
    # Tune ignores max_concurrent_trials for a SearchGenerator: the limit goes here. Each
    # planned point replaces one sample, so num_samples = the points left.
    search = BasicVariantGenerator(
        points_to_evaluate=left.points, random_state=spec.seed,
        max_concurrent=spec.parallel_trials,
    )  # fmt: skip
    return search


def _scheduler(spec: TuneSpec, epochs: int) -> Any:
    """ASHA or the median rule over epochs; none for a single iteration."""
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


def _raise_if_stopped(stop: StopSignal | None, log: TrialLog | None) -> None:
    if stop is not None and stop.requested():
        kept = "" if log is None else f"; {len(log.finished())} finished trials are kept"
        raise Interrupted(f"stopped by SIGTERM during tuning{kept}.")
