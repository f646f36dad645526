"""Plots (PNG) and the one self-contained HTML report of a run.

Pure functions: data in, bytes out. The artifacts stage decides where they go.
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

import numpy as np


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _figure().close(fig)
    return buf.getvalue()


def learning_curve_png(history: list[dict[str, Any]]) -> bytes | None:
    if not history:
        return None
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h.get("train_loss") for h in history], label="training loss")
    if any("val_loss" in h for h in history):
        ax.plot(epochs, [h.get("val_loss") for h in history], label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Learning curves")
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(fig)


def confusion_matrix_png(matrix: list[list[int]], classes: list[str]) -> bytes:
    plt = _figure()
    data = np.asarray(matrix)
    size = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(data, cmap="Blues")
    ax.set_xticks(range(len(classes)), [str(c) for c in classes], rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), [str(c) for c in classes])
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            color = "white" if data[i, j] > data.max() / 2 else "black"
            ax.text(j, i, str(data[i, j]), ha="center", va="center", color=color)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (test)")
    return _png(fig)


def residuals_png(y_true: np.ndarray, y_pred: np.ndarray, title: str = "Test set") -> bytes:
    plt = _figure()
    y_true, y_pred = np.ravel(y_true), np.ravel(y_pred)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.scatter(y_true, y_pred, s=10, alpha=0.6)
    lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    left.plot([lo, hi], [lo, hi], color="grey", linestyle="--")
    left.set_xlabel("actual")
    left.set_ylabel("predicted")
    left.set_title(f"{title}: predicted vs actual")
    right.scatter(y_pred, y_pred - y_true, s=10, alpha=0.6)
    right.axhline(0, color="grey", linestyle="--")
    right.set_xlabel("predicted")
    right.set_ylabel("residual")
    right.set_title("Residuals")
    return _png(fig)


def forecast_png(
    y_true: np.ndarray, y_pred: np.ndarray, baselines: dict[str, np.ndarray] | None = None
) -> bytes:
    """The held-out stretch one step ahead (the first step of every window): actuals, the
    model's forecast and the naive baselines' forecasts of the same windows."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(9, 4))

    def first(values: np.ndarray) -> np.ndarray:
        return np.asarray(values).reshape(len(values), -1)[:, 0]

    ax.plot(first(y_true), label="actual", color="black")
    ax.plot(first(y_pred), label="model forecast")
    styles = {"naive": ":", "seasonal naive": "--"}
    for name, values in (baselines or {}).items():
        ax.plot(first(values), label=name, linestyle=styles.get(name, "-."), alpha=0.8)
    ax.set_xlabel("held-out step")
    ax.set_title("Forecast vs actuals and the naive baselines (1 step ahead)")
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(fig)


def trials_png(trials: list[dict[str, Any]], metric: str, mode: str) -> bytes | None:
    values = [t.get(metric) for t in trials]
    points = [(i + 1, v) for i, v in enumerate(values) if isinstance(v, int | float)]
    if not points:
        return None
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    xs, ys = zip(*points, strict=True)
    ax.scatter(xs, ys, label="trial")
    best = np.maximum.accumulate(ys) if mode == "max" else np.minimum.accumulate(ys)
    ax.step(xs, best, where="post", color="tab:orange", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title("Tuning trials")
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(fig)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:960px;color:#222}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #ddd;padding:.3rem .6rem;
text-align:right} th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
.pass{color:#176f2c;font-weight:bold} .fail{color:#b00020;font-weight:bold}
.warn{background:#fff4e5;border-left:4px solid #f0a500;padding:.4rem .8rem;margin:.3rem 0}
img{max-width:100%;margin:.5rem 0} code,pre{background:#f6f8fa;padding:.1rem .3rem}
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape("—" if value is None else str(value))


def _metrics_table(metrics: dict[str, Any]) -> str:
    splits = [s for s in ("train", "validation", "test") if metrics.get(s)]
    names = [k for k in metrics["test"] if k != "confusion_matrix"]
    head = "".join(f"<th>{s}</th>" for s in splits)
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td>"
        + "".join(f"<td>{_cell(metrics[s].get(n))}</td>" for s in splits)
        + "</tr>"
        for n in names
    )
    return f"<table><tr><th>metric</th>{head}</tr>{rows}</table>"


def _data_section(data: dict[str, Any]) -> str:
    """Rows read, rows removed by reason, and the data-quality findings."""
    from kubetrain_trainer.data.quality import REASONS

    read = data.get("rowsRead") or {}
    used = data.get("rows") or {}
    quality = data.get("quality") or {}
    rows = [("rows read", ", ".join(f"{k}: {v}" for k, v in read.items()) or "—")]
    rows.append(("rows used", ", ".join(f"{k}: {v}" for k, v in used.items()) or "—"))
    for reason, count in (data.get("rowsDropped") or {}).items():
        rows.append((f"removed: {REASONS.get(reason, reason)}", str(count)))
    rows.append(("duplicate rows found", str(quality.get("duplicateRows", 0))))
    rows.append(
        ("ID-like columns", ", ".join(map(str, quality.get("idLikeColumns") or [])) or "none")
    )
    for split, counts in (quality.get("unseenCategories") or {}).items():
        listed = ", ".join(f"{c}: {n}" for c, n in counts.items())
        rows.append((f"unseen categories ({split})", listed))
    rows += _workers_rows(data)
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<h2>Data</h2><table>{body}</table>"


def _workers_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The data path, and with several workers the rows and bytes each one read."""
    path = data.get("path")
    rows = [("data path", f"{path['name']}: {path['reason']}")] if path else []
    for w in data.get("workers") or []:
        rows.append((
            f"worker {w['rank']}",
            f"{w['rows']} rows, {w['bytes']} bytes, peak memory {w['peakRssBytes']} bytes",
        ))  # fmt: skip
    return rows


def _baselines_section(b: dict[str, Any]) -> str:
    """The model against the naive and seasonal-naive forecasts on the same windows."""
    season = f"season {b['season']} ({b['seasonSource']})" if b.get("season") else "no season"
    rows = [("model", b["model"]), ("naive", b["naive"])]
    if b.get("seasonalNaive"):
        rows.append(("seasonal naive", b["seasonalNaive"]))
    body = "".join(
        f"<tr><td>{name}</td><td>{_cell(m['mae'])}</td><td>{_cell(m['rmse'])}</td>"
        f"<td>{_cell(m['mase'])}</td></tr>"
        for name, m in rows
    )
    return (
        f"<h2>Baselines</h2><p>{b['windows']} {html.escape(b['split'])} windows, {season}. "
        f"Skill vs seasonal naive: <b>{_cell(b.get('skillVsSeasonalNaive'))}</b>; "
        f"vs naive: {_cell(b.get('skillVsNaive'))} (1 - MAE / baseline MAE).</p>"
        f"<table><tr><th>forecast</th><th>mae</th><th>rmse</th><th>mase</th></tr>{body}</table>"
    )


def _selection_section(selection: dict[str, Any]) -> str:
    """Automatic model selection: every candidate, best first."""
    rows = "".join(
        f"<tr><td>{i}</td><td>{html.escape(c['model'])}</td><td>{_cell(c['objective'])}</td>"
        f"<td>{c['trials']}</td><td><code>{html.escape(json.dumps(c.get('hyperparameters')))}"
        "</code></td></tr>"
        for i, c in enumerate(selection["candidates"], 1)
    )
    return (
        f"<h2>Automatic model selection</h2><p>{selection['trials']} trials "
        f"({selection['errored']} failed); candidates ranked by their best trial's "
        f"{html.escape(selection['metric'])} on the {selection['split']} rows.</p><table><tr>"
        f"<th>rank</th><th>model</th><th>{html.escape(selection['metric'])}</th><th>trials</th>"
        f"<th>best hyperparameters</th></tr>{rows}</table>"
    )


def html_report(
    *,
    title: str,
    metrics: dict[str, Any],
    metadata: dict[str, Any],
    spec: dict[str, Any],
    plots: dict[str, bytes],
    tuning: dict[str, Any] | None = None,
    selection: dict[str, Any] | None = None,
) -> bytes:
    objective = metrics["objective"]
    passed = objective.get("passed")
    verdict = (
        "<span>no threshold declared</span>"
        if passed is None
        else f"<span class='{'pass' if passed else 'fail'}'>"
        f"{'threshold met' if passed else 'threshold NOT met'}</span>"
    )
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(metrics['task'])} · objective <b>{html.escape(objective['metric'])}"
        f"</b> = {_cell(objective['value'])}"
        + (
            f" (threshold {_cell(objective['threshold'])}, {objective['direction']}) "
            if objective["threshold"] is not None
            else " "
        )
        + f"{verdict}</p>",
    ]
    for warning in metrics.get("warnings") or []:
        parts.append(f"<div class='warn'>⚠ {html.escape(warning)}</div>")
    parts.append(_data_section(metadata.get("data") or {}))
    parts.append("<h2>Metrics</h2>" + _metrics_table(metrics))
    cv = metrics.get("crossValidation")
    if cv:
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{v['mean']:.4g} ± {v['std']:.3g}</td></tr>"
            for k, v in cv.items()
        )
        parts.append(f"<h3>Cross-validation</h3><table><tr><th>metric</th><th>mean ± std</th>"
                     f"</tr>{rows}</table>")  # fmt: skip
    if metrics.get("baselines"):
        parts.append(_baselines_section(metrics["baselines"]))
    if selection:
        parts.append(_selection_section(selection))
    if tuning:
        parts.append("<h2>Tuning</h2>")
        parts.append(
            f"<p>{tuning.get('trials', 0)} trials ({tuning.get('errored', 0)} failed, "
            f"{tuning.get('stoppedEarly', 0)} stopped early by the scheduler, "
            f"{tuning.get('resumedTrials', 0)} finished by earlier attempts), "
            f"{tuning.get('totalEpochs', 0)} epochs in total. Best: "
            f"<code>{html.escape(json.dumps(tuning.get('bestConfig')))}</code></p>"
        )
    if plots:
        parts.append("<h2>Plots</h2>")
        for name, png in plots.items():
            data = base64.b64encode(png).decode()
            parts.append(f"<h3>{html.escape(name)}</h3><img alt='{html.escape(name)}' "
                         f"src='data:image/png;base64,{data}'>")  # fmt: skip
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(json.dumps(v))}</td></tr>"
        for k, v in metadata.items()
    )
    parts.append(f"<h2>Run metadata</h2><table>{rows}</table>")
    parts.append("<h2>Resolved spec</h2><pre>" + html.escape(json.dumps(spec, indent=2)) + "</pre>")
    parts.append("</body></html>")
    return "\n".join(parts).encode()
