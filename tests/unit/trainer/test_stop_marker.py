"""SIGTERM on one pod reaches every rank: the stop marker in the attempt's prefix, polled
cheaply by every `StopSignal`; trials ask Ray for their share of a worker; Ray's runs live in
the job's store."""

from __future__ import annotations

import os
import pickle
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from kubetrain.api.contract import Env, Files, attempt_prefix
from kubetrain_trainer.errors import Interrupted
from kubetrain_trainer.runtime.checkpoint import CheckpointStore, StopSignal
from kubetrain_trainer.runtime.storage import LocalStorage, S3Settings, S3Storage


class CountingStorage(LocalStorage):
    """A directory that counts how often it was asked whether a file exists."""

    looks = 0

    def exists(self, name: str) -> bool:
        CountingStorage.looks += 1
        return super().exists(name)


def test_a_stop_requested_on_one_pod_is_seen_by_a_rank_on_another(tmp_path: Path) -> None:
    attempt = LocalStorage(tmp_path / "ns/job/1")
    driver = StopSignal(marker=attempt)
    rank = pickle.loads(pickle.dumps(StopSignal(marker=attempt, interval=0)))
    assert not rank.requested()

    driver.request()
    assert driver.announce()
    assert (tmp_path / "ns/job/1" / Files.STOP).is_file()
    assert rank.requested()


def test_polling_the_marker_is_throttled(tmp_path: Path) -> None:
    CountingStorage.looks = 0
    stop = StopSignal(marker=CountingStorage(tmp_path), interval=0.3)
    for _ in range(1000):  # a thousand batches within the interval: one look at the store
        assert not stop.requested()
    assert CountingStorage.looks == 1
    time.sleep(0.35)
    stop.requested()
    assert CountingStorage.looks == 2


def test_sigterm_writes_the_marker_for_the_other_pods(tmp_path: Path) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    try:
        stop = StopSignal(tmp_path / "flag").install().watch(LocalStorage(tmp_path / "attempt"))
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not (tmp_path / "attempt" / Files.STOP).exists():
            assert time.monotonic() < deadline, "no stop marker after SIGTERM"
            time.sleep(0.05)
        assert stop.requested() and (tmp_path / "flag").exists()
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_request_before_the_store_is_known_is_announced_when_it_is(tmp_path: Path) -> None:
    stop = StopSignal()
    stop.request()  # SIGTERM while the spec is still being read
    stop.watch(LocalStorage(tmp_path))
    assert (tmp_path / Files.STOP).is_file()


def test_the_stop_entry_point_writes_the_marker_in_the_attempts_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kubetrain_trainer import stop

    env = {Env.OUTPUT_URI: str(tmp_path), Env.NAMESPACE: "team", Env.JOB_NAME: "wine",
           Env.ATTEMPT: "3"}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert stop.main() == 0
    prefix = attempt_prefix(str(tmp_path), "team", "wine", 3)
    assert Path(prefix, Files.STOP).is_file()
    assert "asked every rank to checkpoint and stop" in capsys.readouterr().out
    # The driver of that attempt, watching the same prefix, sees it.
    assert StopSignal(interval=0).watch(stop.attempt_storage()).requested()


def test_the_stop_entry_point_outside_a_pod_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kubetrain_trainer import stop

    monkeypatch.delenv(Env.OUTPUT_URI, raising=False)
    assert stop.main() == 1
    assert "not in a pod of an attempt" in capsys.readouterr().err


def test_a_marker_from_another_pod_stops_the_loop_with_a_checkpoint(tmp_path: Path) -> None:
    """The loop polls between batches; the marker appears after epoch 3 (another pod's
    SIGTERM): the loop saves epoch 3 and raises Interrupted."""
    from tests.support.manifests import IRIS_MLP
    from tests.support.trainer import config_of

    from kubetrain_trainer.models.torch_train import LoopHooks, fit_network
    from kubetrain_trainer.models.train import build_network_def
    from kubetrain_trainer.preparation.stage import prepare

    config = config_of(IRIS_MLP)
    from kubetrain_trainer.data.load import load

    prepared = prepare(load(config.data), config.preparation)
    job = LocalStorage(tmp_path / "ns/t")
    other_pod = StopSignal(marker=job.child("1"))

    def on_epoch(record: dict[str, Any], _: Any) -> None:
        if record["epoch"] == 3:
            other_pod.announce()

    hooks = LoopHooks(
        checkpoints=CheckpointStore(job, "1", "fp"),
        stop=StopSignal(marker=job.child("1"), interval=0),
        on_epoch=on_epoch,
    )
    definition = build_network_def(config.model, "classification", prepared.preprocessor,
                                   prepared.train)  # fmt: skip
    with pytest.raises(Interrupted, match="after epoch 3"):
        fit_network("classification", definition, config.model.training, prepared.train,
                    prepared.validation, seed=1, hooks=hooks)  # fmt: skip
    latest = CheckpointStore(job, "2", "fp").latest()
    assert latest is not None and latest[1]["epoch"] == 3


def _tuning(parallel: int) -> Any:
    from kubetrain_trainer.tuning.space import TuneSpec

    return TuneSpec(search_space={}, parallel_trials=parallel)


def _model(workers: int, gpus: float = 0) -> Any:
    from kubetrain_trainer.models.train import ModelSpec

    return ModelSpec(name="mlp", workers=workers, gpus_per_worker=gpus)


@pytest.mark.parametrize(
    ("workers", "gpus", "parallel", "cluster", "expected"),
    [
        # tuning-wine: 2 pods of 2 CPUs, 4 trials at once: one CPU each
        (2, 0, 4, {"CPU": 4.0}, {"cpu": 1.0}),
        # 2 pods of 8 CPUs, 4 trials: two trials per pod, 4 CPUs each
        (2, 0, 4, {"CPU": 16.0}, {"cpu": 4.0}),
        # one GPU per worker, two trials share each worker: half a GPU each
        (2, 1, 4, {"CPU": 16.0, "GPU": 2.0}, {"cpu": 4.0, "gpu": 0.5}),
        # one trial at a time on a 4-GPU worker: the trial gets all four
        (1, 4, 1, {"CPU": 8.0, "GPU": 4.0}, {"cpu": 8.0, "gpu": 4.0}),
        # GPUs asked for, but the Ray cluster has none (a laptop): CPU trials, never stuck
        (1, 1, 2, {"CPU": 2.0}, {"cpu": 1.0}),
    ],
)
def test_a_trial_asks_for_its_share_of_a_worker(
    workers: int,
    gpus: float,
    parallel: int,
    cluster: dict[str, float],
    expected: dict[str, float],
) -> None:
    from kubetrain_trainer.tuning.trial import trial_resources

    assert trial_resources(_tuning(parallel), _model(workers, gpus), cluster) == expected


def test_ray_runs_of_a_job_with_an_s3_store_live_in_that_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubetrain_trainer.models.ray_train import ray_storage

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    settings = S3Settings(endpoint="http://127.0.0.1:9000", access_key="a", secret_key="b")
    job = S3Storage("kubetrain", "team/wine/tuning/abc", settings)
    args = ray_storage(job, str(tmp_path), "ray", "2")
    assert args["storage_path"] == "kubetrain/team/wine/tuning/abc/ray/2"
    assert type(args["storage_filesystem"]).__name__ == "S3FileSystem"
    # Without an S3 store (kubetrain run --output DIR) a local directory does.
    assert ray_storage(LocalStorage(tmp_path), "/tmp/x", "ray", "2") == {"storage_path": "/tmp/x"}


def test_s3_credentials_never_travel_in_a_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray pickles the store's settings and its file system into its run state in the job's
    store (tuner.pkl): the secret must not be there; the receiving process reads its own env."""
    from ray import cloudpickle

    from kubetrain_trainer.models.ray_train import ray_storage

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key-id-1234")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-5678")
    job = S3Storage("kubetrain", "team/wine", S3Settings.from_env())
    filesystem = ray_storage(job, "/tmp/x", "ray", "1")["storage_filesystem"]
    for thing in (job, job.settings, filesystem):
        # ray.cloudpickle is untyped.
        for dumped in (pickle.dumps(thing), cloudpickle.dumps(thing)):  # type: ignore[no-untyped-call]
            assert b"very-secret-5678" not in dumped and b"key-id-1234" not in dumped
    assert "very-secret-5678" not in repr(job.settings)
    copy = pickle.loads(pickle.dumps(job))
    assert (copy.settings.access_key, copy.settings.secret_key) == (
        "key-id-1234",
        "very-secret-5678",
    )
    assert copy.settings.endpoint == job.settings.endpoint and copy.uri == job.uri


def test_ray_refuses_a_store_whose_credentials_are_not_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kubetrain_trainer.errors import TrainerError
    from kubetrain_trainer.models.ray_train import ray_storage

    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    settings = S3Settings(endpoint="http://127.0.0.1:9000", access_key="a", secret_key="b")
    with pytest.raises(TrainerError, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        ray_storage(S3Storage("kubetrain", "team/wine", settings), "/tmp/x", "ray", "1")


def test_a_store_that_stays_away_is_retried_then_a_retryable_failure(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Within the retry budget the writes are retried; beyond it the attempt fails with exit
    code 1 (another attempt may help, and resumes), never 3 (denied: no retry)."""
    import socket

    from kubetrain.api.contract import ExitCode
    from kubetrain_trainer.errors import StorageUnreachableError

    with socket.socket() as sock:  # a port nothing listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(Env.S3_RETRY_SECONDS, "2")
    settings = S3Settings(endpoint=f"http://127.0.0.1:{port}", access_key="a", secret_key="b")
    store = S3Storage("kubetrain", "team/wine/1", settings)
    started = time.monotonic()
    with pytest.raises(StorageUnreachableError) as raised:
        store.write_bytes("progress.json", b"{}")
    assert time.monotonic() - started >= 1.5  # retried with backoff, not given up at once
    assert raised.value.exit_code == ExitCode.INTERNAL and ExitCode.INTERNAL.retryable
    assert "cannot reach S3 to write s3://kubetrain/team/wine/1/progress.json" in str(raised.value)
    assert capfd.readouterr().err.count("retrying for up to 2 s") == 1
