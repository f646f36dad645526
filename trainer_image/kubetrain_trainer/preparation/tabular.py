"""Preparation of rows (classification, regression): clean, split, fit on training rows.

Every removed row is counted by its reason, duplicates are counted (and removed before
splitting when the spec says so, so the same row cannot land in train and test), and every
transformation is fitted on the training rows of each split or fold only.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from kubetrain_trainer.data.columns import id_like_columns
from kubetrain_trainer.data.load import LoadedData, check_target
from kubetrain_trainer.errors import DataError
from kubetrain_trainer.preparation.preprocessors import TabularPreprocessor
from kubetrain_trainer.preparation.spec import Arrays, Fold, PreparedData, PrepSpec


def _clean(
    frame: pd.DataFrame, spec: PrepSpec, dropped: dict[str, int], quality: dict[str, Any]
) -> pd.DataFrame:
    """Drop what the spec says to drop, counting every removed row by its reason."""

    def drop(reason: str, kept: pd.DataFrame) -> pd.DataFrame:
        dropped[reason] = dropped.get(reason, 0) + len(frame) - len(kept)
        return kept

    frame = drop("missing_target", frame.dropna(subset=[spec.target]))
    if spec.missing == "drop":
        frame = drop("missing_values", frame.dropna())
    duplicates = int(frame.duplicated().sum())
    quality["duplicateRows"] = quality.get("duplicateRows", 0) + duplicates
    if spec.drop_duplicates:
        frame = drop("duplicates", frame.drop_duplicates())
    if frame.empty:
        raise DataError(
            "no rows are left after dropping rows with missing values"
            + (" and duplicates." if spec.drop_duplicates else ".")
        )
    return frame.reset_index(drop=True)


def _stratify(frame: pd.DataFrame, spec: PrepSpec) -> pd.Series | None:
    if spec.task != "classification" or not spec.stratify:
        return None
    counts = frame[spec.target].value_counts()
    return frame[spec.target] if counts.min() >= 2 else None


def _tabular_split(
    frame: pd.DataFrame, spec: PrepSpec
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    from sklearn.model_selection import train_test_split

    if len(frame) < 10:
        raise DataError(f"only {len(frame)} usable rows; at least 10 are needed to split.")
    if spec.folds or spec.test == 0:
        rest, test = frame, None
    else:
        rest, test = train_test_split(
            frame, test_size=spec.test, random_state=spec.seed, stratify=_stratify(frame, spec)
        )
    if spec.folds or spec.validation == 0:
        return rest, None, test
    train, val = train_test_split(
        rest,
        test_size=spec.validation / (1 - (spec.test if test is not None else 0)),
        random_state=spec.seed,
        stratify=_stratify(rest, spec),
    )
    return train, val, test


def _fit_tabular(
    train: pd.DataFrame, spec: PrepSpec, labels: pd.Series
) -> tuple[TabularPreprocessor, Arrays]:
    pre = TabularPreprocessor(spec).fit(train, labels)
    return pre, Arrays(pre.transform(train), pre.transform_target(train[spec.target]))


def _apply(pre: TabularPreprocessor, frame: pd.DataFrame, spec: PrepSpec) -> Arrays:
    return Arrays(pre.transform(frame), pre.transform_target(frame[spec.target]))


def prepare_rows(data: LoadedData, spec: PrepSpec) -> PreparedData:
    """Split and transform rows; every fitted transformation sees training rows only."""
    dropped: dict[str, int] = {}
    quality: dict[str, Any] = {}
    train_df = _clean(data.train, spec, dropped, quality)
    if data.test is not None:
        check_target(data.test, spec.target, spec.task, "the test data")
        test_df = _clean(data.test, spec, dropped, quality)
        rest = train_df
        val_df = None
        if data.validation is not None:
            check_target(data.validation, spec.target, spec.task, "the validation data")
            val_df = _clean(data.validation, spec, dropped, quality)
        elif not spec.folds and spec.validation > 0:
            from sklearn.model_selection import train_test_split

            rest, val_df = train_test_split(
                train_df,
                test_size=spec.validation,
                random_state=spec.seed,
                stratify=_stratify(train_df, spec),
            )
        train_df = rest
    else:
        train_df, val_df, test_df = _tabular_split(train_df, spec)
        if data.validation is not None:
            val_df = _clean(data.validation, spec, dropped, quality)

    labels = pd.concat([f[spec.target] for f in (train_df, val_df, test_df) if f is not None])
    pre, train = _fit_tabular(train_df, spec, labels)
    prepared = PreparedData(
        train=train,
        validation=_apply(pre, val_df, spec) if val_df is not None else None,
        test=_apply(pre, test_df, spec) if test_df is not None else None,
        preprocessor=pre,
        rows_dropped=dropped,
        quality=_findings(quality, pre, train_df, {"validation": val_df, "test": test_df}),
    )
    if spec.folds:
        prepared.folds = _folds(train_df, spec, labels)
    return prepared


def _folds(train_df: pd.DataFrame, spec: PrepSpec, labels: pd.Series) -> list[Fold]:
    """k-fold cross-validation over the non-test rows, each fold's transforms fitted anew."""
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter: Any = (
        StratifiedKFold(spec.folds, shuffle=True, random_state=spec.seed)
        if _stratify(train_df, spec) is not None
        else KFold(spec.folds, shuffle=True, random_state=spec.seed)
    )
    train_df = train_df.reset_index(drop=True)
    folds = []
    for tr, va in splitter.split(train_df, train_df[spec.target]):
        fold_pre, fold_train = _fit_tabular(train_df.iloc[tr], spec, labels)
        folds.append(Fold(fold_train, _apply(fold_pre, train_df.iloc[va], spec), fold_pre))
    return folds


def _findings(
    quality: dict[str, Any],
    pre: TabularPreprocessor,
    train: pd.DataFrame,
    held_out: dict[str, pd.DataFrame | None],
) -> dict[str, Any]:
    """Duplicates (counted by `_clean`), ID-like columns, categories unseen in training."""
    quality["idLikeColumns"] = id_like_columns(train, pre.columns)
    unseen = {
        name: counts
        for name, frame in held_out.items()
        if frame is not None and (counts := pre.unseen_categories(frame))
    }
    if unseen:
        quality["unseenCategories"] = unseen
    return quality
