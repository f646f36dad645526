"""What the local node knows of the cluster: its pods and every Service, kept by watches.

Two threads list and then watch (pods bound to this node; Services of every namespace, for the
hosts files) and write into one `ClusterView` under its lock, then wake the kubelet's loop.
They only hand objects over: all pod state belongs to the loop's thread. A watch that ends
(timeout, 410 Gone, dropped connection) lists again and resumes from the new version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, watch

log = logging.getLogger("kubetrain.localnode")
WATCH_TIMEOUT_SECONDS = 300

Obj = dict[str, Any]


@dataclass
class ClusterView:
    """The latest pods bound to the node and Services, as the watches last saw them."""

    pods: dict[str, Obj] = field(default_factory=dict)
    """uid -> the latest pod object."""
    services: dict[str, Obj] = field(default_factory=dict)
    """namespace/name -> the Service."""
    services_changed: bool = True
    """Set by the Service watch; the loop rewrites the hosts files and clears it."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    wake: threading.Event = field(default_factory=threading.Event)


class Watches:
    """The two watch threads of the node, writing into `view`."""

    def __init__(
        self, api: client.ApiClient, node_name: str, view: ClusterView, stopping: threading.Event
    ) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.node_name = node_name
        self.view = view
        self.stopping = stopping

    def start(self) -> None:
        for target, name in (
            (self.watch_pods, "watch-pods"),
            (self.watch_services, "watch-services"),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()

    def watch_pods(self) -> None:
        view = self.view

        def replace_all(objs: list[Obj]) -> None:
            view.pods = {o["metadata"]["uid"]: o for o in objs}

        def apply_event(kind: str, obj: Obj) -> None:
            if kind == "DELETED":
                view.pods.pop(obj["metadata"]["uid"], None)
            else:
                view.pods[obj["metadata"]["uid"]] = obj

        self._list_and_watch(
            self.core.list_pod_for_all_namespaces,
            replace_all,
            apply_event,
            field_selector=f"spec.nodeName={self.node_name}",
        )

    def watch_services(self) -> None:
        view = self.view

        def replace_all(objs: list[Obj]) -> None:
            view.services = {_key(o): o for o in objs}
            view.services_changed = True

        def apply_event(kind: str, obj: Obj) -> None:
            if kind == "DELETED":
                view.services.pop(_key(obj), None)
            else:
                view.services[_key(obj)] = obj
            view.services_changed = True

        self._list_and_watch(self.core.list_service_for_all_namespaces, replace_all, apply_event)

    def _list_and_watch(
        self,
        list_fn: Callable[..., Any],
        replace_all: Callable[[list[Obj]], None],
        apply_event: Callable[[str, Obj], None],
        **selectors: str,
    ) -> None:
        """List, hand the objects to the loop, then watch from that version; relist on error."""
        while not self.stopping.is_set():
            try:
                listing = list_fn(**selectors)
                with self.view.lock:
                    replace_all([self.api.sanitize_for_serialization(o) for o in listing.items])
                self.view.wake.set()
                stream = watch.Watch().stream(
                    list_fn,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=WATCH_TIMEOUT_SECONDS,
                    **selectors,
                )
                for event in stream:
                    obj = self.api.sanitize_for_serialization(event["object"])
                    with self.view.lock:
                        apply_event(event["type"], obj)
                    self.view.wake.set()
                    if self.stopping.is_set():
                        return
            except Exception as exc:  # a 410 Gone or a dropped connection: relist
                if not self.stopping.is_set():
                    log.info("watch restarting: %s", exc)
                    self.stopping.wait(1)


def _key(obj: Obj) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
