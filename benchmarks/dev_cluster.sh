#!/usr/bin/env bash
# Dev cluster benchmark: `kubetrain dev up` from stopped and when running, and the idle
# cluster's memory (RSS of every process it started). Uses its own state directory.
#   benchmarks/dev_cluster.sh            (results: see docs/benchmarks.md)
set -euo pipefail
cd "$(dirname "$0")/.."
kt=.venv/bin/kubetrain
export KUBETRAIN_DEV_DIR=${KUBETRAIN_DEV_DIR:-$(mktemp -d /tmp/kubetrain-bench.XXXXXX)}
trap '$kt dev down >/dev/null 2>&1 || true' EXIT

t0=$(date +%s.%N); $kt dev up >/dev/null 2>&1; t1=$(date +%s.%N)
echo "first up (new state, warm binaries): $(python3 -c "print(round($t1 - $t0, 1))") s"
t0=$(date +%s.%N); $kt dev up >/dev/null 2>&1; t1=$(date +%s.%N)
echo "up while running:                    $(python3 -c "print(round($t1 - $t0, 1))") s"
$kt dev down >/dev/null 2>&1
t0=$(date +%s.%N); $kt dev up >/dev/null 2>&1; t1=$(date +%s.%N)
echo "up from stopped (existing state):    $(python3 -c "print(round($t1 - $t0, 1))") s"
sleep 30  # let it settle
total=0
for f in "$KUBETRAIN_DEV_DIR"/run/*.pid; do
  pid=$(cut -d' ' -f1 "$f"); rss=$(ps -o rss= -p "$pid" | tr -d ' ')
  printf '  %-24s %6d MiB\n' "$(basename "$f" .pid)" $((rss / 1024))
  total=$((total + rss))
done
echo "idle cluster RSS:                    $((total / 1024)) MiB"
