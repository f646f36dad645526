"""`python -m kubetrain.dev.localnode SETTINGS.json KUBECONFIG`: run the local node's kubelet."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from kubernetes import config

from kubetrain.dev.localnode.kubelet import Kubelet
from kubetrain.dev.localnode.node import NodeSettings


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m kubetrain.dev.localnode SETTINGS.json KUBECONFIG", file=sys.stderr)
        return 2
    raw = json.loads(Path(argv[0]).read_text())
    for key in ("pods_dir", "state_dir", "serving_cert", "serving_key", "client_ca"):
        raw[key] = Path(raw[key])
    settings = NodeSettings(**raw)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    api = config.new_client_from_config(config_file=argv[1])
    Kubelet(api, settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
