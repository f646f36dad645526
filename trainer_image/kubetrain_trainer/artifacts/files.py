"""Stage 6, artifacts: the model, metrics, spec, metadata, plots and report of one attempt.

Everything goes under the attempt's prefix `<output>/<namespace>/<job>/<attempt>/`:

    model/            model.json + model.joblib (scikit-learn) or network.json,
                      state_dict.pt, preprocessor.joblib (PyTorch); see `predict.load_model`
    metrics.json      test/validation/train metrics, cross-validation, objective, warnings
    spec.json         the resolved TrainingJob spec
    metadata.json     data hash, library versions, seed, durations per stage, CPU/GPU-seconds
    plots/*.png       learning curves, confusion matrix or residuals/forecast, tuning trials
    report.html       one self-contained page (plots inlined)
    tuning/trials.json

The saved model is checked by a real round trip: it is downloaded again from the store into a
fresh directory, loaded with `load_model`, and must reproduce the in-memory predictions.
"""

from __future__ import annotations

import json
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kubetrain.api.contract import Files
from kubetrain_trainer.errors import TrainerError
from kubetrain_trainer.predict import TrainedModel, load_model
from kubetrain_trainer.runtime.storage import Storage

LIBRARIES = ("numpy", "pandas", "scikit-learn", "torch", "ray", "optuna", "statsmodels", "boto3")


def library_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _json(data: Any) -> bytes:
    return json.dumps(data, indent=2, default=_default).encode()


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def save_model(storage: Storage, model: TrainedModel, probe: np.ndarray | None) -> list[str]:
    """Upload `model/`, then load it back from the store and compare predictions on `probe`.

    Its index (`model.json`), which `load_model` reads first, is uploaded last: it commits the
    model, so a reader that finds it finds every other file whole (each upload is atomic), and
    a store that went away mid-upload leaves a model no reader takes for complete.
    """
    with tempfile.TemporaryDirectory(prefix="kubetrain-model-") as tmp:
        files = sorted(model.save(Path(tmp) / "model"), key=lambda p: p.name == Files.MODEL_INDEX)
        for path in files:
            storage.upload_file(f"model/{path.name}", path)
        names = [f"model/{p.name}" for p in files]
        if probe is not None and len(probe):
            again = Path(tmp) / "again"
            again.mkdir()
            for name in names:
                storage.download_file(name, again / Path(name).name)
            loaded = load_model(again)
            expected, _ = model.predict_arrays(probe)
            actual, _ = loaded.predict_arrays(probe)
            if not np.allclose(np.asarray(expected, float), np.asarray(actual, float), atol=1e-5):
                raise TrainerError("the saved model does not reproduce its own predictions.")
    return names


def write_json(storage: Storage, name: str, data: Any) -> str:
    storage.write_bytes(name, _json(data))
    return name


def write_plots(storage: Storage, plots: dict[str, bytes]) -> list[str]:
    names = []
    for title, png in plots.items():
        name = "plots/" + title.lower().replace(" ", "_") + ".png"
        storage.write_bytes(name, png)
        names.append(name)
    return names


def write_results(
    storage: Storage, evaluation: Any, spec: dict[str, Any], metadata: dict[str, Any]
) -> list[str]:
    """metrics.json, spec.json and metadata.json of a finished attempt; their names."""
    return [
        write_json(storage, Files.METRICS, evaluation.to_json()),
        write_json(storage, Files.SPEC, spec),
        write_json(storage, Files.METADATA, metadata),
    ]
