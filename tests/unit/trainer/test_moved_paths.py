"""Models saved before the stage packages still load: their pickles name the old flat modules."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from kubetrain_trainer.data.load import LoadedData
from kubetrain_trainer.models.train import ModelSpec, train
from kubetrain_trainer.predict import TrainedModel
from kubetrain_trainer.preparation.spec import PrepSpec
from kubetrain_trainer.preparation.stage import prepare

# (old module, class) pairs that saved models hold, and the module that defines each now
PICKLED = [
    ("kubetrain_trainer.prepare", "TabularPreprocessor", "preparation.preprocessors"),
    ("kubetrain_trainer.prepare", "WindowPreprocessor", "preparation.preprocessors"),
    ("kubetrain_trainer.prepare", "TokenVectorizer", "preparation.preprocessors"),
    ("kubetrain_trainer.prepare", "PrepSpec", "preparation.spec"),
    ("kubetrain_trainer.prepare", "TextFeatures", "preparation.spec"),
    ("kubetrain_trainer.prepare", "ColumnSpec", "data.columns"),
    ("kubetrain_trainer.columns", "DatetimeEncoder", "data.columns"),
    ("kubetrain_trainer.columns", "ColumnSpec", "data.columns"),
    ("kubetrain_trainer.statistical", "ETSForecaster", "models.statistical"),
    ("kubetrain_trainer.statistical", "ARIMAForecaster", "models.statistical"),
    ("kubetrain_trainer.statistical", "ThetaForecaster", "models.statistical"),
    ("kubetrain_trainer.models", "NetworkDef", "models.catalogue"),
    ("kubetrain_trainer.torch_train", "NetworkOutcome", "models.torch_train"),
    ("kubetrain_trainer.predict", "TrainedModel", "predict"),
]


@pytest.mark.parametrize(("old", "name", "now"), PICKLED)
def test_an_old_module_path_in_a_pickle_finds_the_class_where_it_lives_now(
    old: str, name: str, now: str
) -> None:
    found = pickle.loads(f"c{old}\n{name}\n.".encode())  # the GLOBAL opcode a pickle holds
    assert found.__name__ == name
    assert found.__module__ == f"kubetrain_trainer.{now}"


def test_a_model_pickled_under_the_old_module_names_loads_and_predicts_the_same() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=120), "c": rng.choice(["a", "b"], 120), "y": [0, 1] * 60}
    )
    data = LoadedData(train=frame, validation=None, test=None, content_hash="x", description="t")
    prepared = prepare(data, PrepSpec(task="classification", target="y", seed=1))
    spec = ModelSpec(name="decision-tree")
    model = train(spec, "classification", prepared.train, None, prepared.preprocessor).model
    # Protocol 0 writes each class as "c<module>\n<name>\n": name the modules as before the move.
    saved = pickle.dumps(model, protocol=0)
    for now, old in [
        (b"kubetrain_trainer.preparation.preprocessors", b"kubetrain_trainer.prepare"),
        (b"kubetrain_trainer.preparation.spec", b"kubetrain_trainer.prepare"),
        (b"kubetrain_trainer.data.columns", b"kubetrain_trainer.columns"),
    ]:
        saved = saved.replace(b"c" + now + b"\n", b"c" + old + b"\n")
    assert b"kubetrain_trainer.prepare\n" in saved
    loaded = pickle.loads(saved)
    assert isinstance(loaded, TrainedModel)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
