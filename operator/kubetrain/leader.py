"""Leader election with a coordination.k8s.io Lease, so that two replicas are safe.

Only the holder of the Lease runs the handlers; the others wait. The holder renews the Lease
every few seconds and exits the process if it cannot renew it before it expires (the
Deployment restarts it as a standby), the way controller-runtime does — never two actors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

from kubernetes import client
from kubernetes.client.rest import ApiException

log = logging.getLogger("kubetrain.leader")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LeaderElector:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str = "kubetrain-operator",
        identity: str | None = None,
        lease_seconds: int = 15,
        renew_seconds: float = 5.0,
        on_lost: Callable[[], None] = lambda: os._exit(1),
    ) -> None:
        self.api = client.CoordinationV1Api(api)
        self.namespace = namespace
        self.name = name
        self.identity = identity or f"{os.uname().nodename}-{os.getpid()}"
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.on_lost = on_lost

    def _try_acquire(self) -> bool:
        body = {
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.lease_seconds,
                "acquireTime": _now(),
                "renewTime": _now(),
                "leaseTransitions": 0,
            },
        }
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            try:
                self.api.create_namespaced_lease(self.namespace, body)
                return True
            except ApiException as create_exc:
                if create_exc.status == 409:
                    return False
                raise
        spec = lease.spec
        mine = spec.holder_identity == self.identity
        renewed = spec.renew_time or spec.acquire_time or _now()
        expired = _now() > renewed + dt.timedelta(seconds=spec.lease_duration_seconds or 15)
        if not (mine or expired or not spec.holder_identity):
            return False
        spec.holder_identity = self.identity
        spec.renew_time = _now()
        spec.lease_duration_seconds = self.lease_seconds
        if not mine:
            spec.acquire_time = _now()
            spec.lease_transitions = (spec.lease_transitions or 0) + 1
        try:  # the resourceVersion in `lease` makes this a compare-and-swap
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def acquire(self) -> None:
        """Block until this replica holds the Lease, then keep renewing it in the background."""
        log.info("waiting to lead as %s (Lease %s/%s)", self.identity, self.namespace, self.name)
        while True:
            try:
                if self._try_acquire():
                    break
            except ApiException as exc:
                log.warning("leader election: %s", exc.reason)
            time.sleep(self.renew_seconds)
        log.info("leading as %s", self.identity)
        threading.Thread(target=self._renew_forever, name="lease", daemon=True).start()

    def _renew_forever(self) -> None:
        last = time.monotonic()
        while True:
            time.sleep(self.renew_seconds)
            try:
                if self._try_acquire():
                    last = time.monotonic()
                    continue
                log.error("lost the Lease to another replica")
            except Exception as exc:
                log.warning("could not renew the Lease: %s", exc)
                if time.monotonic() - last < self.lease_seconds:
                    continue
            self.on_lost()
            return


class _StandbyHealth(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"standby: waiting for the Lease\n")

    def log_message(self, *_: object) -> None:
        pass


@contextlib.contextmanager
def standby_health(port: int) -> Iterator[None]:
    """Answer /healthz on the health port while this replica waits to lead.

    A standby is alive; without this its liveness probe would fail (kopf serves /healthz only
    once it runs) and the kubelet would restart it forever. Closed before kopf takes the port.
    """
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), _StandbyHealth)
    threading.Thread(target=server.serve_forever, name="standby-health", daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
