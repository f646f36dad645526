"""Issue 11's operator measurements and fault scripts at a small size, against the dev cluster:
the scale benchmark and the cluster's own ceiling (so their code keeps working), the operator
SIGKILLed at random points, and the API server stopped while jobs run. Their full sizes run on
demand (docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import chaos_operator, cluster_ceiling, operator_scale
from tests.support.cluster import DevCluster


def test_scale_benchmark_runs_jobs_to_success_and_idles_without_requests(
    dev_cluster: DevCluster, crd_installed: None, tmp_path: Path
) -> None:
    result = operator_scale.main(
        ["--smoke", "--workdir", str(tmp_path), "--out", str(tmp_path / "scale.json")]
    )
    [burst] = result["scenarios"]
    assert burst["succeeded"] == burst["jobs"] == 20
    assert burst["operator_requests_per_job"]["POST pods"] == 1.0
    assert burst["latency_seconds"]["created_to_succeeded"]["n"] == 20
    # Idle finished jobs cost nothing. (Events are left out: the node controller writes core
    # Events too, e.g. for the benchmark nodes an earlier run leaves and this one removes.)
    idle = {k: v for k, v in burst["idle_requests"].items() if not k.startswith("WATCH ")}
    assert not [k for k in idle if k.split(" ")[1] != "events"], idle
    assert burst["restart"]["jobs_seen"] == 20
    assert (tmp_path / "scale.json").exists()


def test_the_clusters_own_ceiling_is_measured_with_bare_pods(
    dev_cluster: DevCluster, crd_installed: None, tmp_path: Path
) -> None:
    result = cluster_ceiling.main(["--smoke", "--out", str(tmp_path / "ceiling.json")])
    assert result["all_succeeded"] and result["succeeded"] == 20
    assert result["pods_succeeded_per_second"] > 0
    assert (tmp_path / "ceiling.json").exists()


def test_operator_killed_at_random_points_loses_and_doubles_nothing(
    dev_cluster: DevCluster, crd_installed: None, tmp_path: Path
) -> None:
    result = chaos_operator.main(
        ["--kills", "10", "--jobs", "8", "--nodes", "3", "--max-gap", "2", "--workdir",
         str(tmp_path), "--out", str(tmp_path / "chaos.json")]
    )  # fmt: skip
    assert result["problems"] == []
    assert len(result["kill_seconds"]) == 10


def test_api_server_outage_is_one_warning_each_way_and_jobs_converge(
    dev_cluster: DevCluster, crd_installed: None, tmp_path: Path
) -> None:
    result = chaos_operator.main(
        ["--outage", "15", "--jobs", "8", "--nodes", "3", "--workdir", str(tmp_path),
         "--out", str(tmp_path / "outage.json")]
    )  # fmt: skip
    assert result["problems"] == []
    log = Path(result["operator_log"]).read_text()
    assert log.count(chaos_operator.UNREACHABLE) == 1
    assert log.count(chaos_operator.BACK) == 1
    assert "Traceback" not in log
