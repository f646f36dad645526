"""Old module paths that saved files still name, resolved to where the code lives now.

A model saved with joblib (`model/model.joblib`, `model/preprocessor.joblib`, the
`fitted-model.joblib` checkpoint, a tuning trial's `best-model.joblib`) names each class by the
module it was defined in when it was saved. The trainer's modules moved into stage packages;
models saved before the move name the old flat modules (`kubetrain_trainer.prepare`,
`kubetrain_trainer.statistical`, ...). `install()` registers an import hook that answers
exactly those names with the module that now defines the same classes, so `joblib.load` and
`predict.load_model` keep loading them. Nothing else is aliased, and nothing is imported until
an old name is asked for.

`kubetrain_trainer.models` is a package now; the one class pickled from the old module
(`NetworkDef`, inside a network trial's saved model) is imported into it instead.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

# old module → the module that now defines (or imports) every class the old one pickled
MOVED = {
    "kubetrain_trainer.prepare": "kubetrain_trainer.preparation.preprocessors",
    "kubetrain_trainer.columns": "kubetrain_trainer.data.columns",
    "kubetrain_trainer.statistical": "kubetrain_trainer.models.statistical",
    "kubetrain_trainer.torch_train": "kubetrain_trainer.models.torch_train",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old name and loads it as the module it moved to."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """The module it moved to ran when it was imported: nothing more to do."""


def install() -> None:
    """Put the alias finder in front of the normal ones (once)."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Alias())
