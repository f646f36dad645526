"""What every Ray Train worker does with its shard: stream it in batches, and count.

`ShardReader` wraps `ray.train.get_dataset_shard(name)`: it yields numpy batches of prepared
rows (`x`, `y`, `row_hash`) with at most one batch prefetched, so a worker holds a bounded
number of rows whatever the data set's size. On the first pass it counts what the worker
consumed — rows, bytes, batches, the largest batch, the sum of the rows' hashes (the shards
are disjoint and complete when the per-worker sums add up to the split's) — and the process's
resident memory, peak included. `publish` writes those counters to `workers/rank-<r>.json` in
the attempt's store, where the driver collects them for the metadata and the report.
"""

from __future__ import annotations

import json
import resource
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

WORKERS_DIR = "workers"
_MASK = (1 << 64) - 1


def rss_bytes() -> int:
    """This process's resident memory now (Linux), 0 where /proc is absent."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return 0
    return pages * resource.getpagesize()


def peak_rss_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass
class Counters:
    rank: int
    rows: int = 0
    bytes: int = 0
    batches: int = 0
    largest_batch_bytes: int = 0
    row_hash_sum: int = 0
    rss_at_start_bytes: int = 0
    peak_rss_bytes: int = 0
    resumed_from: int = 0  # rounds or epochs its run's checkpoint had done (0: a fresh start)

    def see(self, batch: dict[str, np.ndarray]) -> None:
        size = int(sum(v.nbytes for v in batch.values()))
        self.rows += len(batch["y"])
        self.bytes += size
        self.batches += 1
        self.largest_batch_bytes = max(self.largest_batch_bytes, size)
        total = int(batch["row_hash"].astype(np.uint64).sum(dtype=np.uint64))
        self.row_hash_sum = (self.row_hash_sum + total) & _MASK

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        # Held at once: the batch in use and the one prefetched.
        data["data_peak_bytes"] = 2 * self.largest_batch_bytes
        data["row_hash_sum"] = str(self.row_hash_sum)  # JSON numbers lose 64-bit precision
        return {_camel(k): v for k, v in data.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


class ShardReader:
    """A worker's shard of one split, streamed; counted on the first pass."""

    def __init__(self, name: str, rank: int, batch_rows: int) -> None:
        import ray.train

        self.shard = ray.train.get_dataset_shard(name)
        self.batch_rows = max(1, batch_rows)
        self.counters = Counters(rank=rank, rss_at_start_bytes=rss_bytes())
        self.passes = 0

    def batches(self, batch_rows: int | None = None) -> Iterator[dict[str, np.ndarray]]:
        first = self.passes == 0
        self.passes += 1
        for batch in self.shard.iter_batches(
            batch_size=batch_rows or self.batch_rows, batch_format="numpy", prefetch_batches=1
        ):
            if first:
                self.counters.see(batch)
            yield batch
        self.counters.peak_rss_bytes = peak_rss_bytes()


def publish(store: Any, counters: Counters) -> None:
    """Write one worker's counters where the driver reads them (`collect`)."""
    counters.peak_rss_bytes = max(counters.peak_rss_bytes, peak_rss_bytes())
    name = f"{WORKERS_DIR}/rank-{counters.rank}.json"
    store.write_bytes(name, json.dumps(counters.to_json(), indent=2).encode())


def collect(store: Any, workers: int) -> list[dict[str, Any]]:
    """Every worker's counters, by rank."""
    found = []
    for rank in range(workers):
        name = f"{WORKERS_DIR}/rank-{rank}.json"
        if store.exists(name):
            found.append(json.loads(store.read_bytes(name)))
    return found


def batch_rows_for(memory_limit: int | None, row_bytes: int, wanted: int) -> int:
    """Rows per streamed batch: `wanted`, fewer when a batch would pass 1/16 of the limit."""
    if not memory_limit or row_bytes <= 0:
        return wanted
    return max(1, min(wanted, memory_limit // 16 // row_bytes))
