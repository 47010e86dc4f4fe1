"""A sweep the way a lab runs one, on three hosts (network namespaces, three_hosts.py): submitted
from host C, which runs no Ray node, to the Ray head on host A as a Ray job; trials on host B's
worker node; runs in PostgreSQL behind an MLflow server that refuses requests without
credentials. Then host B's node is killed mid-trial and started again: the trial resumes from
its checkpoint into the same MLflow run."""

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from .local_cluster import BIN
from .sweep_helpers import SMOKE, spec_file, steps, wait_for
from .three_hosts import ThreeHosts, can_make_namespaces

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hosts():
    why = can_make_namespaces()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the three-host test cannot run: {why}")
        pytest.skip(why)
    three = ThreeHosts()
    try:
        yield three.start()
    finally:
        three.stop()


@pytest.fixture
def client(hosts, monkeypatch):
    """The test's own view of the MLflow server (from the bridge, with the credentials)."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", hosts.user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", hosts.password)
    return MlflowClient(hosts.tracking_uri)


def laptop_spec(hosts, name, max_iter):
    """A spec that exists only on host C's disk (a folder no cluster node is told about): the
    smoke sweep's 2 trials of one wave, which host B's 2 CPUs run at once."""
    folder = hosts.root / "laptop"
    folder.mkdir(exist_ok=True)
    return spec_file(folder, name, one_wave=True, max_iter=max_iter)


def submit(hosts, spec):
    """`orchestrate sweep` on host C, streaming the job's output."""
    command = ["orchestrate", "sweep", str(spec), "--address", f"http://{hosts.ip['A']}:8265",
               "--tracking-uri", hosts.tracking_uri, "--storage", str(hosts.root / "shared" / "sweeps")]
    return subprocess.Popen(hosts.on("C", command), env=hosts.laptop_env(), cwd=spec.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cli(env, *args):
    """`orchestrate` run by the test process itself (on the bridge), as a user on the network does."""
    return subprocess.run([str(BIN / "orchestrate"), *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=600)


def trial_runs(client, name):
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return []
    return [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("kind") == "trial"]


def job_status(hosts, job):
    """The job's status from the Jobs REST API (the token as a bearer header)."""
    request = urllib.request.Request(f"http://{hosts.ip['A']}:8265/api/jobs/{job}",
                                     headers={"Authorization": f"Bearer {hosts.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["status"]


def assert_complete_in_postgres(hosts, name, trials, max_iter):
    """Straight from PostgreSQL on host A: the parent and every child run FINISHED, every
    report's loss and the final evaluation stored."""
    rows = hosts.sql(f"SELECT r.status, count(*) FROM runs r JOIN experiments e USING (experiment_id) "
                     f"WHERE e.name = '{name}' GROUP BY r.status")
    assert rows == [["FINISHED", str(trials + 1)]], rows
    per_run = hosts.sql(f"SELECT m.run_uuid, count(DISTINCT m.step) FROM metrics m JOIN runs r ON r.run_uuid = "
                        f"m.run_uuid JOIN experiments e USING (experiment_id) WHERE e.name = '{name}' AND "
                        f"m.key = 'loss/generator' GROUP BY m.run_uuid")
    assert sorted(int(count) for _, count in per_run) == [max_iter // 5] * trials, per_run


def test_a_sweep_submitted_from_a_host_without_ray_runs_on_the_worker_host_and_ctrl_c_detaches(hosts, client):
    """Submitted from host C, Ctrl-C there detaches and the sweep goes on without C. A submitted
    sweep followed to its end (its summary through the job's log): the killed-worker-host test."""
    spec = laptop_spec(hosts, "threehosts", 20)
    started = time.time()
    laptop = submit(hosts, spec)
    submitted = []

    def submitted_line():
        line = laptop.stderr.readline()
        if "as job" in line:
            submitted.append(line.split("as job ")[1].split(";")[0])
        return bool(submitted)

    wait_for(submitted_line, 120, "the submitted line", laptop)
    laptop.send_signal(signal.SIGINT)                                 # Ctrl-C
    _, stderr = laptop.communicate(timeout=60)
    assert laptop.returncode == 0, stderr
    assert f"detached: sweep threehosts goes on in job {submitted[0]}" in stderr
    assert "ray job logs --follow" in stderr and "ray job stop" in stderr
    deadline = time.time() + 900                                     # the sweep goes on without host C
    while job_status(hosts, submitted[0]) not in ("SUCCEEDED", "FAILED", "STOPPED") and time.time() < deadline:
        time.sleep(2)
    wall = time.time() - started
    assert job_status(hosts, submitted[0]) == "SUCCEEDED"
    nodes = hosts.alive_nodes()
    runs = trial_runs(client, "threehosts")
    assert len(runs) == 2
    placed = {nodes.get(run.data.tags["ray_node_id"], "gone") for run in runs}
    assert placed == {"B"}, placed
    assert_complete_in_postgres(hosts, "threehosts", 2, 20)
    grids = {a.path for a in client.list_artifacts(runs[0].info.run_id, "samples")}
    assert "samples/samples_0000020.png" in grids                   # artifacts through the server
    search = f"{hosts.tracking_uri}/api/2.0/mlflow/experiments/search?max_results=5"
    assert hosts.http_status(search) == 401                            # no credentials: refused
    assert hosts.http_status(search, (hosts.user, "wrong-password-123")) == 401
    assert hosts.http_status(search, (hosts.user, hosts.password)) == 200
    for pid in subprocess.run(["pgrep", "-f", "mlflow"], capture_output=True, text=True).stdout.split():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert hosts.password not in cmdline and hosts.db_password not in cmdline, cmdline   # `ps` shows none
    # `orchestrate analyze` against the server, with the user from the environment (as people run it)
    env = {**os.environ, "MLFLOW_TRACKING_USERNAME": hosts.user, "MLFLOW_TRACKING_PASSWORD": hosts.password}
    out = cli(env, "analyze", "threehosts", "--tracking-uri", hosts.tracking_uri, "--storage",
              hosts.root / "analysis-storage", "--out", hosts.root / "analysis")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (hosts.root / "analysis" / "report.html").is_file()
    env.pop("MLFLOW_TRACKING_PASSWORD")
    refused = cli(env, "analyze", "threehosts", "--tracking-uri", hosts.tracking_uri, "--storage",
                  hosts.root / "analysis-storage", "--out", hosts.root / "x")
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr[-3000:]
    assert "MLFLOW_TRACKING_PASSWORD" in lines[0]
    # a sweep with no credentials for the server: one line before anything starts
    no_user = cli({**env, "MLFLOW_TRACKING_USERNAME": ""}, "sweep", SMOKE, "--tracking-uri", hosts.tracking_uri,
                  "--storage", hosts.root / "no-user")
    assert no_user.returncode == 2 and "refused the request (HTTP 401" in no_user.stderr, no_user.stderr[-3000:]
    assert not (hosts.root / "no-user").exists()
    print(f"three hosts: nodes {sorted(set(nodes.values()))}, trials on {placed}, 2 runs FINISHED in PostgreSQL; "
          f"request without credentials: 401; submitted from C (detached), sweep wall time {wall:.0f} s")


def test_a_killed_worker_host_resumes_its_trial_from_the_checkpoint_into_the_same_run(hosts, client):
    if len(hosts.alive_nodes()) < 2:
        hosts.start_ray_worker()
    spec = laptop_spec(hosts, "hostkill", 60)
    laptop = submit(hosts, spec)
    killed = {}

    def a_trial_past_15():
        for run in trial_runs(client, "hostkill"):
            if steps(client, run, "loss/generator")[-1:] >= [15]:
                killed["run"] = run.info.run_id
                return True
        return False

    try:
        wait_for(a_trial_past_15, 600, "a trial past iteration 15", laptop)
        assert hosts.kill_worker_node() > 0
        killed["at"] = max(steps(client, client.get_run(killed["run"]), "loss/generator"))
        time.sleep(5)
        hosts.start_ray_worker()                                      # host B comes back
        stdout, stderr = laptop.communicate(timeout=900)
    finally:
        if laptop.poll() is None:
            laptop.kill()
    assert laptop.returncode == 0, f"{stdout[-2000:]}\n{stderr[-5000:]}"
    assert "submitted to the Ray cluster at" in stderr and "sweep hostkill: 2 finished" in stderr, stderr[-3000:]
    assert "failed; Ray retries it from its last checkpoint" in stderr
    runs = trial_runs(client, "hostkill")
    assert len(runs) == 2 and len({r.data.params["ray_trial_id"] for r in runs}) == 2      # none doubled
    assert_complete_in_postgres(hosts, "hostkill", 2, 60)
    moved = client.get_run(killed["run"]).data.tags["ray_nodes"].split(",")
    assert len(moved) == 2 and moved[0] != moved[1], moved             # B's old node, then B's new one
    resumed = [line for path in (hosts.root / "rayB").rglob("worker-*.out") for line in
               path.read_text(errors="replace").splitlines() if "resuming alphagan on synthetic from iteration" in line]
    assert resumed and all(int(line.rsplit("iteration ", 1)[1].split()[0].replace(",", "")) > 0 for line in resumed)
    print(f"host B killed at iteration {killed['at']} of run {killed['run']}; {resumed[0].strip()}")


def test_joining_with_the_gcs_address_from_a_host_without_ray_is_one_line(hosts):
    """`--address A:6379` needs a Ray node on the driver's machine; from host C it would wait for
    one for minutes: one line within seconds instead, pointing to the Jobs address."""
    spec = laptop_spec(hosts, "gcsjoin", 20)
    started = time.time()
    out = subprocess.run(hosts.on("C", ["orchestrate", "sweep", str(spec), "--address", hosts.ray_address,
                                        "--storage", str(hosts.root / "c-storage")]),
                         env=hosts.laptop_env(), capture_output=True, text=True, timeout=120)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr[-3000:]
    assert f"submit the sweep as a Ray job instead: --address http://{hosts.ip['A']}:8265" in lines[0]
    assert time.time() - started < 30 and not (hosts.root / "c-storage").exists()
