"""The workflow: data → preparation → (tuning) → training → evaluation → artifacts.

`run(config, context)` runs one attempt of a job and returns a `JobResult`. It is what
`python -m kubetrain_trainer` calls in a pod and what `kubetrain run` calls on a laptop; the
only differences are the `RunContext` (where artifacts go, which Ray cluster) and the progress
reporter's interval. Each stage is a package whose entry point takes the previous stages'
typed results and returns its own (see each package's docstring).
"""

from __future__ import annotations

from kubetrain.api.contract import Files
from kubetrain_trainer.artifacts.write import write_artifacts
from kubetrain_trainer.config import JobConfig, resolve_text_column
from kubetrain_trainer.data.load import load
from kubetrain_trainer.distributed import RAY_DATA
from kubetrain_trainer.distributed import choose as choose_data_path
from kubetrain_trainer.evaluation.evaluate import cross_validate, evaluate
from kubetrain_trainer.models.stage import fit
from kubetrain_trainer.preparation.stage import prepare
from kubetrain_trainer.result import JobResult
from kubetrain_trainer.runtime.clock import StageClock
from kubetrain_trainer.runtime.context import RunContext
from kubetrain_trainer.runtime.progress import ProgressReporter
from kubetrain_trainer.tuning.stage import select

__all__ = ["JobResult", "RunContext", "run"]


def run(config: JobConfig, context: RunContext) -> JobResult:
    path = choose_data_path(config)
    if path.name == RAY_DATA:  # several workers reading files: see kubetrain_trainer.distributed
        from kubetrain_trainer.distributed.pipeline import run as run_on_ray_data

        return run_on_ray_data(config, context, path)
    clock = StageClock()
    progress = ProgressReporter(
        context.attempt_storage, attempt=context.attempt,
        min_interval=context.progress_interval, echo=context.echo_progress,
    )  # fmt: skip
    progress.update("data", force=True)
    with clock.stage("data"):
        data = load(config.data, config.data_s3)
    config = resolve_text_column(config, data)
    progress.update("preparation")
    with clock.stage("preparation"):
        prepared = prepare(data, config.preparation)
    selection = select(config, context, data, prepared, progress, clock)
    training = fit(config, context, data, prepared, selection, progress, clock)
    cv = cross_validate(config, training.spec, prepared, progress, clock)
    progress.update("evaluation")
    with clock.stage("evaluation"):
        scored = evaluate(config, prepared, training.result, cv)
    progress.update("artifacts")
    written = write_artifacts(
        config,
        context,
        data,
        prepared,
        training,
        selection.tuning,
        scored,
        clock,
        data_path=path.to_json(),
    )
    evaluation, out = scored[0], context.attempt_storage
    progress.update("done", force=True, best=(config.objective.metric, evaluation.objective.value))
    return JobResult(
        evaluation=evaluation,
        artifact_uri=out.uri,
        report_uri=f"{out.uri}/{Files.REPORT}",
        metadata=written.metadata,
        files=written.files,
    )
