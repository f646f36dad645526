"""A bring-your-own training script: logistic regression trained in "epochs" of iterations.

Run by examples/custom-code.yaml as `python -m kubetrain_trainer.examples.custom --max-iter 500`.
It shows the helper API: data, epochs, progress, checkpoints and resume, artifacts.
"""

from __future__ import annotations

import argparse
import os
import pickle
import tempfile
import warnings
from pathlib import Path

from kubetrain_trainer import helper


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-iter", type=int, default=200)
    args = parser.parse_args()
    if os.environ.get("EXAMPLE_GREETING"):
        print(os.environ["EXAMPLE_GREETING"], flush=True)

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = helper.load_data()
    target = helper.target()
    x, y = frame.drop(columns=[target]).to_numpy(), frame[target].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0)

    epochs = helper.epochs(3)
    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(max_iter=max(1, args.max_iter // epochs), warm_start=True),
    )
    start = 1
    resumed = helper.latest_checkpoint()
    if resumed is not None:
        step, directory = resumed
        model = pickle.loads((directory / "model.pkl").read_bytes())
        start = step + 1
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    for epoch in range(start, epochs + 1):
        model.fit(x_train, y_train)
        proba = model.predict_proba(x_test)[:, 1]
        helper.report(
            {
                "roc-auc": float(roc_auc_score(y_test, proba)),
                "accuracy": float(accuracy_score(y_test, (proba > 0.5).astype(int))),
            },
            epoch=epoch,
            total=epochs,
        )
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "model.pkl").write_bytes(pickle.dumps(model))
            helper.save_checkpoint(tmp, step=epoch)
    (helper.output_dir() / "model.pkl").write_bytes(pickle.dumps(model))
    np.save(helper.output_dir() / "test_predictions.npy", model.predict(x_test))


if __name__ == "__main__":
    main()
