#!/usr/bin/env python3
"""Benchmark 4 of issue 11: `kubetrain run` on the quickstart example, wall time and where it goes.

Scenarios, each a fresh `kubetrain run` process with its own state directory (never the user's):
  first    the store is stopped: this run starts it (in the background, during the imports)
  reused   the store runs already (left by a previous run): the common case
  output   `--output DIR`, no store
  stop     `kubetrain store stop` (not part of a run any more)
  before   optional (--before-tree DIR): the same command from an older checkout (e.g.
           `git archive <commit> | tar -x -C DIR`), whose run started and stopped its store

Each run writes its breakdown with the hidden `--timings FILE` option: process startup (the
interpreter and `kubetrain` CLI imports), store start (launching SeaweedFS), the trainer's
imports, store wait, the workflow's stages (data, preparation, training, evaluation,
artifacts), and the summary. CPU seconds are the child's user + system time.

    .venv/bin/python benchmarks/quickstart.py                 # 3 runs of each scenario
    .venv/bin/python benchmarks/quickstart.py --runs 5 --before-tree /tmp/kubetrain-before
    .venv/bin/python benchmarks/quickstart.py --smoke          # one `output` run

Results: a table on stdout and JSON (--out). docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_util import machine, median, table, write_json

ROOT = Path(__file__).resolve().parents[1]
KUBETRAIN = [sys.executable, "-c", "from kubetrain.cli import main; main()"]
TARGET_SECONDS = 5.0


def _timed(
    argv: list[str], env: dict[str, str]
) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall and CPU seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, cpu, proc


def _one_run(scenario: str, args: argparse.Namespace, env: dict[str, str], work: Path) -> dict:
    timings = work / f"{scenario}-timings.json"
    timings.unlink(missing_ok=True)
    argv = [*KUBETRAIN, "run", str(args.manifest), "-q"]
    run_env = env
    if scenario == "before":
        run_env = {
            **env,
            "PYTHONPATH": f"{args.before_tree}/operator:{args.before_tree}/trainer_image",
        }
    else:
        argv += ["--timings", str(timings)]
    if scenario == "output":
        argv += ["--output", str(work / "out")]
    wall, cpu, _ = _timed(argv, run_env)
    record: dict[str, Any] = {"wall": round(wall, 3), "cpu": round(cpu, 3)}
    if timings.exists():
        inside = json.loads(timings.read_text())
        record |= {"phases": inside["phases"], "stages": inside["stages"], "store": inside["store"]}
    return record


def _stop(env: dict[str, str]) -> float:
    wall, _, _ = _timed([*KUBETRAIN, "store", "stop"], env)
    return round(wall, 3)


def run_scenarios(args: argparse.Namespace) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {s: [] for s in args.scenario}
    with tempfile.TemporaryDirectory(prefix="kubetrain-quickstart-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "XDG_STATE_HOME": str(work / "state")}
        try:
            for i in range(args.runs):
                for scenario in args.scenario:
                    if scenario in ("first", "before"):
                        _stop(env)  # a cold start: no store running
                    if scenario == "reused" and i == 0 and "first" not in args.scenario:
                        _one_run("reused", args, env, work)  # leaves the store running
                    if scenario == "stop":
                        results["stop"].append({"wall": _stop(env)})
                        continue
                    results[scenario].append(_one_run(scenario, args, env, work))
                    print(
                        f"run {i + 1} {scenario}: {results[scenario][-1]['wall']:.2f} s", flush=True
                    )
        finally:
            _stop(env)
    return results


def summarise(results: dict[str, list[dict]]) -> list[dict[str, Any]]:
    rows = []
    for scenario, runs in results.items():
        row: dict[str, Any] = {"scenario": scenario, "runs": len(runs)}
        row["wall"] = median([r["wall"] for r in runs])
        row["cpu"] = median([r["cpu"] for r in runs if "cpu" in r]) if scenario != "stop" else None
        for group in ("phases", "stages"):
            keys = dict.fromkeys(k for r in runs for k in r.get(group, {}))
            row[group] = {
                k: median([r[group][k] for r in runs if k in r.get(group, {})]) for k in keys
            }
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    def fmt(value: Any) -> str:
        return "" if value is None else f"{value:.2f}"

    headers = [
        "scenario",
        "runs",
        "wall s",
        "cpu s",
        "startup",
        "trainer imports",
        "store",
        "data",
        "prep",
        "train",
        "eval",
        "artifacts",
    ]
    body = []
    for r in rows:
        p, s = r["phases"], r["stages"]
        store = p.get("store start", 0) + p.get("store wait", 0) if p else None
        body.append(
            [
                r["scenario"],
                r["runs"],
                fmt(r["wall"]),
                fmt(r["cpu"]),
                fmt(p.get("startup")),
                fmt(p.get("imports")),
                fmt(store),
                fmt(s.get("data")),
                fmt(s.get("preparation")),
                fmt(s.get("training")),
                fmt(s.get("evaluation")),
                fmt(s.get("artifacts")),
            ]
        )
    print(table(headers, body))
    print(f"(medians; target: wall <= {TARGET_SECONDS} s with the embedded store)")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--manifest", type=Path, default=ROOT / "examples" / "classification-iris.yaml")
    p.add_argument(
        "--scenario", action="append", choices=["first", "reused", "output", "stop", "before"]
    )
    p.add_argument("--before-tree", type=Path, help="an older checkout to run as `before`")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quickstart.json")
    p.add_argument("--smoke", action="store_true", help="one `output` run (for the tests)")
    args = p.parse_args(argv)
    if args.smoke:
        args.runs, args.scenario = 1, ["output"]
    if not args.scenario:
        args.scenario = ["first", "reused", "output", "stop"] + (
            ["before"] if args.before_tree else []
        )
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    info = machine()
    rows = summarise(run_scenarios(args))
    print_table(rows)
    result = {
        "benchmark": "quickstart",
        "manifest": str(args.manifest),
        "machine": info,
        "targetSeconds": TARGET_SECONDS,
        "scenarios": rows,
    }
    write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
