"""Data-quality findings in plain words: what preparation removed, and what it kept but noticed.

Nothing is dropped silently. `PreparedData.rows_dropped` counts every removed row by reason and
`PreparedData.quality` records what was kept but deserves a look (duplicate rows, columns that
look like identifiers, categories that validation or test rows hold but training rows never
had). `quality_warnings` turns both into the sentences that the report, `metrics.json` and
`kubetrain run`'s summary show.
"""

from __future__ import annotations

from typing import Any

REASONS = {
    "missing_target": "the target is missing",
    "missing_values": "a feature is missing (missing.strategy: drop)",
    "duplicates": "duplicate rows (dropDuplicates: true)",
    "interpolated_target": "missing target values filled by interpolation (kept)",
    "filled_target": "missing target values filled by the missing strategy (kept)",
}
"""Why rows were removed (or, for series, changed), by the key in `rows_dropped`."""


_KEPT = ("interpolated_target", "filled_target")


def dropped_sentence(rows_dropped: dict[str, int]) -> str:
    """`12 rows removed: 10 because the target is missing, 2 duplicate rows (...)`."""
    removed = {k: v for k, v in rows_dropped.items() if v and k in REASONS}
    if not removed:
        return "no rows removed"
    total = sum(v for k, v in removed.items() if k not in _KEPT)
    parts = [f"{n} {REASONS[k]}" for k, n in removed.items()]
    head = f"{total} rows removed" if total else "no rows removed"
    return f"{head}: " + "; ".join(parts)


def quality_warnings(rows_dropped: dict[str, int], quality: dict[str, Any]) -> list[str]:
    """The findings a user should read before trusting the metrics."""
    warnings = []
    removed = {k: v for k, v in rows_dropped.items() if v}
    if removed:
        warnings.append(f"preparation: {dropped_sentence(removed)}.")
    duplicates = quality.get("duplicateRows", 0)
    if quality.get("duplicateTimestamps"):
        warnings.append(
            f"{quality['duplicateTimestamps']} time stamps occur more than once in the series."
        )
    if duplicates and not rows_dropped.get("duplicates"):
        warnings.append(
            f"the data holds {duplicates} duplicate rows; they were kept (set "
            "preparation.dropDuplicates: true to remove them, which also keeps a row and its "
            "copy out of different splits)."
        )
    ids = quality.get("idLikeColumns") or []
    if ids:
        warnings.append(
            f"column(s) {', '.join(map(str, ids))} look like identifiers (a distinct value in "
            "every row) and are used as features; exclude them with "
            "preparation.features.exclude, or give their type in preparation.features.types "
            "(a date string as datetime)."
        )
    for split, counts in (quality.get("unseenCategories") or {}).items():
        listed = ", ".join(f"{col}: {n} rows" for col, n in counts.items())
        warnings.append(
            f"the {split} rows hold categories that the training rows never had ({listed}); "
            "the model sees them as unknown (all indicator columns 0)."
        )
    return warnings
