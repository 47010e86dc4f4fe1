"""`orchestrate sweep` on a real multi-node cluster made of processes on this machine: PostgreSQL,
an MLflow server on it, a Ray head and a separate Ray worker node (`ray start`, token
authentication on). Trials run on both nodes and log to the server; a killed worker node's trials
are retried from their checkpoints on the surviving node; a 30-second MLflow outage loses no
metric. PostgreSQL comes from Debian's packages (.ci/run installs it); without it the tests skip
locally and fail in CI."""

import os
import subprocess
import sys
import time
from collections import Counter

import pytest
from mlflow.tracking import MlflowClient

from .local_cluster import LocalCluster
from .postgres import postgres_bin
from .sweep_helpers import spec_file, steps, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    if postgres_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: .ci/run must `apt-get install postgresql`")
        pytest.skip("PostgreSQL server programs (pg_ctl, initdb) not found: apt-get install postgresql")
    local = LocalCluster()
    try:
        yield local.start()
    finally:
        local.stop()


def start_sweep(cluster, path, storage):
    return subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "sweep", str(path), "--storage",
                             str(storage), "--address", cluster.address, "--tracking-uri", cluster.tracking_uri],
                            env=cluster.ray_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process, timeout=900):
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, f"{stdout[-2000:]}\n{stderr[-5000:]}"
    return stdout, stderr


def runs(cluster, name):
    client = MlflowClient(cluster.tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client, []
    return client, [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("kind") == "trial"]


def assert_complete(cluster, name, max_iter):
    """Exactly one finished run per trial, every report's metrics, the final evaluation and the
    sample grids on the server."""
    client, children = runs(cluster, name)
    assert len(children) == 4, [r.info.run_name for r in children]
    assert len({r.data.params["ray_trial_id"] for r in children}) == 4            # none doubled
    for run in children:
        assert run.info.status == "FINISHED" and run.data.tags["trial_status"] == "finished"
        assert set(steps(client, run, "loss/generator")) == set(range(5, max_iter + 1, 5))
        assert set(steps(client, run, "critic/neg_w_test")) == set(range(max_iter // 2, max_iter + 1, 5))
        assert steps(client, run, "eval/sample_diversity")[-1:] == [max_iter]
        grids = {a.path for a in client.list_artifacts(run.info.run_id, "samples")}
        assert f"samples/samples_{max_iter:07d}.png" in grids
    return client, children


def test_trials_run_on_both_nodes_and_a_30_second_mlflow_outage_loses_no_metric(cluster, tmp_path):
    """Trials on the head and the worker node log to the server, which is stopped for 30 s while
    they train. First in this file: the next test kills the worker node."""
    start, monitor = time.time(), cluster.monitor()
    process = start_sweep(cluster, spec_file(tmp_path, "outage", max_iter=60), tmp_path / "storage")

    def reported_10():
        client, children = runs(cluster, "outage")
        return any(steps(client, r, "loss/generator")[-1:] >= [10] for r in children)

    try:
        wait_for(reported_10, 600, "a trial past iteration 10", process)
        cluster.stop_mlflow()
        down = time.time()
        time.sleep(30)
        cluster.start_mlflow()
        up = time.time()
        print(f"MLflow server down for {up - down:.1f} s")
    except BaseException:
        process.kill()
        raise
    stdout, stderr = finish(process)
    wall = time.time() - start
    client, children = assert_complete(cluster, "outage", 60)
    alive = cluster.alive_nodes()
    nodes = Counter(alive.get(r.data.tags["ray_node_id"], "unknown") for r in children)
    assert set(nodes) == {"head", "worker"}, nodes
    assert len(monitor) == 1 and cluster.monitor() == monitor      # the driver joined it: it stopped none of it
    # reports made while the server was down reached it afterwards (the timestamp is the report's)
    during = [m for r in children for m in client.get_metric_history(r.info.run_id, "loss/generator")
              if down * 1000 <= m.timestamp <= up * 1000]
    assert during, "no report fell into the outage: the test did not test it"
    print(f"placement {dict(nodes)}; sweep wall time {wall:.1f} s; {len(during)} reports made during the "
          "outage arrived later")


def test_killed_worker_node_trials_finish_on_the_survivor(cluster, tmp_path):
    if len(cluster.alive_nodes()) < 2:
        cluster.start_ray_worker()
    worker = [node for node, role in cluster.alive_nodes().items() if role == "worker"]
    process = start_sweep(cluster, spec_file(tmp_path, "nodekill", max_iter=60), tmp_path / "storage")
    killed = {}

    def worker_trial_past_15():
        client, children = runs(cluster, "nodekill")
        for run in children:
            if run.data.tags.get("ray_node_id") in worker and steps(client, run, "loss/generator")[-1:] >= [15]:
                killed["run"] = run.info.run_id
                return True
        return False

    try:
        wait_for(worker_trial_past_15, 600, "a trial on the worker node past iteration 15", process)
        cluster.kill_worker_node()
        killed["time"] = time.time()
    except BaseException:
        process.kill()
        raise
    stdout, stderr = finish(process)
    assert "failed; Ray retries it from its last checkpoint" in stderr
    client, children = assert_complete(cluster, "nodekill", 60)
    moved = client.get_run(killed["run"]).data.tags["ray_nodes"].split(",")
    assert moved[0] in worker and moved[-1] not in worker, moved     # from the worker to the head
    assert list(cluster.alive_nodes().values()) == ["head"]
    print(f"node kill: run {killed['run']} moved {[n[:8] for n in moved]}; sweep ended "
          f"{time.time() - killed['time']:.0f} s after the kill")
