"""Stage 4, training: build the declared model and fit it on the prepared arrays.

Takes a `train.ModelSpec` (hyperparameters already chosen, by the spec or by tuning) and the
`preparation.spec.PreparedData` arrays, and returns a `train.TrainResult` whose `model` is the
`predict.TrainedModel` saved as the artifact. `catalogue` builds estimators and network
definitions by name, `statistical` holds the statistical forecasters, `torch_train` the
network training loop and `ray_train` the same loop on Ray Train workers.
"""

# Models saved before the stage packages name `kubetrain_trainer.models.NetworkDef` (a network
# tuning trial's best-model.joblib): the name still resolves here (see `_moved`).
from kubetrain_trainer.models.catalogue import NetworkDef

__all__ = ["NetworkDef"]
