"""Chaos: the S3 store away for 30 s (the issue's figure) in training and in the final upload.

The test suite runs tests/integration/test_s3_outage.py with 12 s outages to keep its time;
this runs the same test with 30 s ones, against the dev cluster of KUBETRAIN_DEV_CONFIG:

    .venv/bin/python benchmarks/chaos_s3_outage.py [SECONDS]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    seconds = sys.argv[1] if len(sys.argv) > 1 else "30"
    env = {**os.environ, "KUBETRAIN_S3_OUTAGE_SECONDS": seconds}
    test = "tests/integration/test_s3_outage.py"
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", test],
                           cwd=ROOT, env=env)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
