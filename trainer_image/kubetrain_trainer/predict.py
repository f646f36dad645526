"""The saved model: what `model/` in the artifacts holds and how to load it and predict.

    from kubetrain_trainer.predict import load_model
    model = load_model("/path/to/artifacts/model")   # or a local copy of the S3 prefix
    model.predict(frame)                              # labels / values in the target's units

scikit-learn: `model.joblib` is the whole `TrainedModel` (fitted preprocessor + estimator).
PyTorch: `network.json` (the `NetworkDef`), `state_dict.pt` (weights) and `preprocessor.joblib`;
the network is rebuilt from `kubetrain_trainer.models.catalogue` and the weights loaded into it,
so no pickled code objects are involved.

For forecasting, `predict(history)` takes the series so far (time column and target) and
returns the next `horizon` values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from kubetrain.api.contract import Files
from kubetrain_trainer.models.catalogue import NetworkDef
from kubetrain_trainer.preparation.preprocessors import Preprocessor, WindowPreprocessor
from kubetrain_trainer.preparation.spec import Arrays


@dataclass
class TrainedModel:
    task: str
    family: str  # sklearn | torch
    preprocessor: Preprocessor
    estimator: Any = None
    network: NetworkDef | None = None
    state_dict: dict[str, Any] | None = None

    # -- model space (arrays as prepared) ------------------------------------------------------

    def predict_arrays(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if self.family == "torch":
            from kubetrain_trainer.models.torch_train import network_predict

            assert self.network is not None and self.state_dict is not None
            return network_predict(self.network, self.state_dict, self.task, x)
        pred = np.asarray(self.estimator.predict(x))
        proba = None
        if self.task == "classification" and hasattr(self.estimator, "predict_proba"):
            proba = _full_proba(self.estimator, x, len(self.preprocessor.classes or []))
        return pred, proba

    def to_units(self, pred: np.ndarray, arrays: Arrays | None = None) -> np.ndarray:
        """Model-space predictions or targets → the target's own units."""
        offset = arrays.offset if arrays is not None else None
        return self.preprocessor.inverse_target(pred, offset)

    # -- raw rows ------------------------------------------------------------------------------

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        x = self.preprocessor.transform(frame)
        pred, _ = self.predict_arrays(x)
        if isinstance(self.preprocessor, WindowPreprocessor):
            last = self.preprocessor.last_window(frame)[-1]
            return cast(np.ndarray, self.preprocessor.inverse_target(pred, np.array([last]))[0])
        return self.preprocessor.inverse_target(pred)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        _, proba = self.predict_arrays(self.preprocessor.transform(frame))
        return proba

    # -- files ---------------------------------------------------------------------------------

    def save(self, directory: Path) -> list[Path]:
        import joblib

        directory.mkdir(parents=True, exist_ok=True)
        meta = {"task": self.task, "family": self.family, "format": 1}
        if self.family == "sklearn":
            joblib.dump(self, directory / "model.joblib")
        else:
            import torch

            assert self.network is not None
            torch.save(self.state_dict, directory / "state_dict.pt")
            (directory / "network.json").write_text(json.dumps(self.network.to_json(), indent=2))
            joblib.dump(self.preprocessor, directory / "preprocessor.joblib")
        (directory / Files.MODEL_INDEX).write_text(json.dumps(meta, indent=2))
        return sorted(p for p in directory.iterdir() if p.is_file())


def _full_proba(estimator: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba with a column per known class, even if training lacked some."""
    proba = estimator.predict_proba(x)
    classes = list(getattr(estimator, "classes_", range(proba.shape[1])))
    if len(classes) == n_classes:
        return cast(np.ndarray, proba)
    full = np.zeros((len(x), n_classes))
    for col, cls in enumerate(classes):
        full[:, int(cls)] = proba[:, col]
    return full


def load_model(directory: str | Path) -> TrainedModel:
    import joblib

    directory = Path(directory)
    meta = json.loads((directory / Files.MODEL_INDEX).read_text())
    if meta["family"] == "sklearn":
        model = joblib.load(directory / "model.joblib")
        assert isinstance(model, TrainedModel)
        return model
    import torch

    return TrainedModel(
        task=meta["task"],
        family="torch",
        preprocessor=joblib.load(directory / "preprocessor.joblib"),
        network=NetworkDef.from_json(json.loads((directory / "network.json").read_text())),
        state_dict=torch.load(directory / "state_dict.pt", map_location="cpu"),
    )
