"""What the local node derives from a Pod: env, command line, hosts file, phase and status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubetrain.dev.localnode import podspec
from kubetrain.dev.localnode.podspec import ContainerState, EnvSources, PodConfigError

POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "x"}},
    "spec": {"nodeName": "local", "serviceAccountName": "sa", "restartPolicy": "Never"},
}


def sources(secrets: dict[str, dict[str, str]] | None = None) -> EnvSources:
    secrets = secrets or {}
    maps = {"cfg": {"MODE": "fast", "LEVEL": "3"}}
    return EnvSources(
        config_map_key=lambda n, k: maps.get(n, {}).get(k),
        secret_key=lambda n, k: secrets.get(n, {}).get(k),
        config_map=lambda n: maps.get(n),
        secret=lambda n: secrets.get(n),
    )


def test_env_resolves_values_refs_and_expansion() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        "env": [
            {"name": "A", "value": "one"},
            {"name": "B", "value": "$(A)-two $$(A) $(MISSING)"},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "M", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODE"}}},
        ],
    }
    env = podspec.container_env(
        POD, container, sources({"s": {"pw": "hunter2"}}), "127.0.0.7", "127.0.0.1", {"X": "1"}
    )
    assert env == {
        "X": "1",
        "CFG_MODE": "fast",
        "CFG_LEVEL": "3",
        "A": "one",
        "B": "one-two $(A) $(MISSING)",
        "PW": "hunter2",
        "IP": "127.0.0.7",
        "APP": "x",
        "M": "fast",
    }


def test_missing_secret_key_is_a_clear_error_unless_optional() -> None:
    ref: dict[str, Any] = {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}}
    with pytest.raises(PodConfigError, match='key "pw" of Secret "s" not found'):
        podspec.container_env(POD, {"env": [ref]}, sources(), "127.0.0.2", "127.0.0.1")
    ref["valueFrom"]["secretKeyRef"]["optional"] = True
    assert podspec.container_env(POD, {"env": [ref]}, sources(), "127.0.0.2", "127.0.0.1") == {}


def test_command_line_needs_a_command_and_expands_args() -> None:
    assert podspec.command_line(
        {"command": ["python", "-c"], "args": ["print('$(A)')"]}, {"A": "hi"}
    ) == ["python", "-c", "print('hi')"]
    with pytest.raises(PodConfigError, match="has no command"):
        podspec.command_line({"name": "c", "args": ["x"]}, {})


def test_service_names_resolve_to_local_backends() -> None:
    services: list[dict[str, Any]] = [
        {"metadata": {"name": "head", "namespace": "ns"}, "spec": {"selector": {"app": "x"}}},
        {"metadata": {"name": "other", "namespace": "ns"}, "spec": {"selector": {"app": "y"}}},
        {"metadata": {"name": "noselector", "namespace": "ns"}, "spec": {}},
    ]
    pods = [
        podspec.LocalPod("ns", "p", "127.0.0.5", {"app": "x"}, hostname="h0", subdomain="head"),
        podspec.LocalPod("elsewhere", "q", "127.0.0.6", {"app": "x"}),
    ]
    records = podspec.service_records(services, pods)
    assert records == [
        ("127.0.0.5", ["head", "head.ns", "head.ns.svc", "head.ns.svc.cluster.local"]),
        ("127.0.0.5", ["h0.head", "h0.head.ns.svc", "h0.head.ns.svc.cluster.local"]),
    ]
    hosts = podspec.hosts_file(pods[0], records)
    assert "127.0.0.5\th0.head.ns.svc.cluster.local h0" in hosts
    assert "127.0.0.1\tkubernetes.default kubernetes.default.svc" in hosts


@pytest.mark.parametrize(
    ("policy", "states", "phase"),
    [
        ("Never", [], "Pending"),
        ("Never", [ContainerState("a")], "Pending"),
        ("Never", [ContainerState("a", state="running")], "Running"),
        ("Never", [ContainerState("a", state="terminated", exit_code=0)], "Succeeded"),
        ("Never", [ContainerState("a", state="terminated", exit_code=2)], "Failed"),
        ("OnFailure", [ContainerState("a", state="terminated", exit_code=2)], "Running"),
        (
            "Never",
            [
                ContainerState("a", state="terminated", exit_code=0),
                ContainerState("b", state="running"),
            ],
            "Running",
        ),
    ],
)
def test_pod_phase_follows_container_states(
    policy: str, states: list[ContainerState], phase: str
) -> None:
    assert podspec.pod_phase(policy, states) == phase


def test_pod_status_reports_exit_code_and_keeps_transition_times() -> None:
    pod = {**POD, "spec": {**POD["spec"], "containers": [{"name": "a", "image": "img"}]}}
    running = [ContainerState("a", state="running", started_at="t0")]
    first = podspec.pod_status(pod, running, "127.0.0.2", "127.0.0.1", "t0", "t1")
    assert first["phase"] == "Running"
    assert {c["type"]: c["status"] for c in first["conditions"]}["Ready"] == "True"
    again = podspec.pod_status(pod, running, "127.0.0.2", "127.0.0.1", "t0", "t2", first)
    assert again["conditions"] == first["conditions"]
    done = [
        ContainerState(
            "a",
            state="terminated",
            exit_code=137,
            reason="Error",
            started_at="t0",
            finished_at="t3",
        )
    ]
    final = podspec.pod_status(pod, done, "127.0.0.2", "127.0.0.1", "t0", "t3", again)
    assert final["phase"] == "Failed"
    terminated = final["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 137
    ready = {c["type"]: c for c in final["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"], ready["lastTransitionTime"]) == (
        "False",
        "PodCompleted",
        "t3",
    )


def test_mounts_never_hide_a_later_mounts_source(tmp_path: Path) -> None:
    from kubetrain.dev.localnode.runtime import wrapper_script
    from kubetrain.dev.localnode.volumes import Mount

    state = tmp_path / "state"
    mounts = [
        Mount(state / "pods/x/volumes/scratch", str(tmp_path), False),  # hides every source
        Mount(state / "pods/x/volumes/spec", "/etc/kubetrain", True),
    ]
    script = wrapper_script(mounts, state / "pods/x/hosts", "x", None)
    order = [line.split()[-1] for line in script.splitlines() if line.startswith("mount --bind")]
    assert order == ["/etc/hosts", "/etc/kubetrain", str(tmp_path)]


def test_termination_message_is_the_file_else_the_log_tail_on_failure(tmp_path: Path) -> None:
    from kubetrain.dev.localnode import lifecycle

    rt = lifecycle.PodRuntime(
        uid="u-1", namespace="ns", name="p", ip="127.0.0.2", dir=tmp_path, pod={}, start_time="t0"
    )
    container = {"name": "trainer", "terminationMessagePolicy": "FallbackToLogsOnError"}
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "trainer.log").write_text("".join(f"line {i}\n" for i in range(200)))
    (tmp_path / "trainer.termination-log").write_text("")
    tail = lifecycle.termination_message(rt, container, 1)
    assert tail.splitlines()[-1] == "line 199" and "line 119" not in tail
    assert lifecycle.termination_message(rt, container, 0) == ""
    (tmp_path / "trainer.termination-log").write_text("the trainer stopped: bad data\n")
    assert lifecycle.termination_message(rt, container, 2) == "the trainer stopped: bad data"
    plain = {"name": "trainer"}
    (tmp_path / "trainer.termination-log").write_text("")
    assert lifecycle.termination_message(rt, plain, 1) == ""
