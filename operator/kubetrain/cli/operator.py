"""`kubetrain operator`: run the operator (the Helm chart's Deployment runs exactly this)."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def operator(
    kubeconfig: Path | None = typer.Option(
        None, "--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig; in-cluster config if unset."
    ),
    namespaces: list[str] = typer.Option(
        [], "--namespace", "-n", help="Watch only this namespace (repeatable)."
    ),
    all_namespaces: bool = typer.Option(
        False, "--all-namespaces", "-A", help="Watch every namespace (cluster-wide)."
    ),
    config_file: Path | None = typer.Option(
        None, "--config", help="Operator configuration (profiles, artifact store, image)."
    ),
    metrics_port: int = typer.Option(8080, "--metrics-port", help="Prometheus /metrics port."),
    health_port: int = typer.Option(8081, "--health-port", help="Liveness /healthz port."),
    leader_election: bool = typer.Option(
        True, "--leader-election/--no-leader-election", help="Run safely as several replicas."
    ),
    lease_namespace: str = typer.Option(
        "kubetrain-system", "--lease-namespace", envvar="POD_NAMESPACE"
    ),
    lease_name: str = typer.Option("kubetrain-operator", "--lease-name"),
    log_format: str = typer.Option("json", "--log-format", help="json or text"),
) -> None:
    """Run the TrainingJob operator."""
    if bool(namespaces) == all_namespaces:
        typer.echo("error: give either --namespace (one or more) or --all-namespaces", err=True)
        raise typer.Exit(2)
    from kubetrain import config as operator_config

    try:
        cfg = operator_config.load(config_file)
    except operator_config.ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc

    from kubetrain import memory

    memory.cap_arenas()  # before any thread starts (see kubetrain.memory)
    import kopf
    from kubernetes import config as kube_config

    from kubetrain import handlers, logs, metrics
    from kubetrain.handlers.reconcile import Reconciler
    from kubetrain.kube import Kube
    from kubetrain.leader import LeaderElector, standby_health

    logs.setup(log_format)
    from kubernetes import client

    configuration = client.Configuration()
    if kubeconfig is not None:
        os.environ["KUBECONFIG"] = str(kubeconfig)  # kopf logs in with the same file
        kube_config.load_kube_config(str(kubeconfig), client_configuration=configuration)
    else:
        kube_config.load_incluster_config(client_configuration=configuration)
    # One connection per handler thread (handlers.configure), kept rather than reopened.
    configuration.connection_pool_maxsize = handlers.MAX_WORKERS + 4
    api = client.ApiClient(configuration)
    metrics.serve(metrics_port)
    kube = Kube(api)
    # kopf looks the TrainingJob resource up once, at start: with no API server to answer,
    # it would never watch it.
    kube.wait_until_reachable()
    if leader_election:
        with standby_health(health_port):
            LeaderElector(api, lease_namespace, lease_name).acquire()
    kopf.run(
        memo=handlers.operator_memo(Reconciler(kube, cfg)),
        standalone=True,
        clusterwide=all_namespaces,
        namespaces=namespaces,
        liveness_endpoint=f"http://0.0.0.0:{health_port}/healthz",
    )
