"""A real cluster of processes on this machine for the multi-node tests: PostgreSQL, an MLflow
tracking server on it (artifacts served by the server), a Ray head node and a separate Ray worker
node started with `ray start`, with Ray's token authentication on. Everything stops in stop(),
also after a failure."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from ..ports import free_port
from ..processes import command_line, kill, parent, processes
from .postgres import start_postgres, stop_postgres

BIN = Path(sys.executable).parent


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


class LocalCluster:
    def __init__(self):
        # PostgreSQL refuses to run as root and needs every parent folder readable by its user
        self.root = Path(tempfile.mkdtemp(prefix="alphagan-cluster-", dir="/tmp"))
        self.root.chmod(0o755)
        self.pg_port, self.mlflow_port, self.ray_port = free_port(), free_port(), free_port()
        self.worker_manager_port = free_port()
        self.password = secrets.token_hex(12)
        self.ray_env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
                        "RAY_USAGE_STATS_ENABLED": "0"}
        self.mlflow: subprocess.Popen | None = None
        self.log = self.root / "logs"
        self.log.mkdir()

    # ----------------------------------------------------------------- PostgreSQL
    def _as_postgres(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def start_postgres(self) -> None:
        start_postgres(self.root, self.pg_port, self.password, self._as_postgres)

    @property
    def backend_uri(self) -> str:
        return f"postgresql+psycopg2://mlflow:{self.password}@127.0.0.1:{self.pg_port}/mlflow"

    # ----------------------------------------------------------------- MLflow server
    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def start_mlflow(self) -> None:
        artifacts = self.root / "mlartifacts"
        artifacts.mkdir(exist_ok=True)
        out = open(self.log / "mlflow.log", "a")
        self.mlflow = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--backend-store-uri", self.backend_uri,
             "--artifacts-destination", artifacts.as_uri(), "--serve-artifacts", "--host", "127.0.0.1",
             "--port", str(self.mlflow_port), "--workers", "1",
             "--allowed-hosts", f"127.0.0.1:{self.mlflow_port},localhost:{self.mlflow_port}"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

        def healthy():
            if self.mlflow.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(self.log / 'mlflow.log').read_text()[-2000:]}")
            try:
                return urllib.request.urlopen(f"{self.tracking_uri}/health", timeout=2).status == 200
            except OSError:
                return False

        _wait(healthy, 120, "the MLflow server")

    def stop_mlflow(self) -> None:
        if self.mlflow is not None and self.mlflow.poll() is None:
            os.killpg(self.mlflow.pid, signal.SIGTERM)
            try:
                self.mlflow.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.mlflow.pid, signal.SIGKILL)
                self.mlflow.wait(10)
        self.mlflow = None

    # ----------------------------------------------------------------- Ray
    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ray_port}"

    def _ray(self, *args: str) -> str:
        out = subprocess.run([str(BIN / "ray"), *args], env=self.ray_env, capture_output=True, text=True,
                             timeout=180)
        if out.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
        return out.stdout

    def start_ray_head(self, cpus: int = 1) -> None:
        self._ray("start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(self.ray_port),
                  "--num-cpus", str(cpus), "--num-gpus", "0", "--include-dashboard", "false",
                  "--disable-usage-stats")

    def start_ray_worker(self, cpus: int = 1) -> None:
        self.worker_manager_port = free_port()
        self._ray("start", "--address", self.address, "--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus),
                  "--num-gpus", "0", "--node-manager-port", str(self.worker_manager_port))
        _wait(lambda: len(self.alive_nodes()) == 2, 60, "the worker node to join")

    def alive_nodes(self) -> dict[str, str]:
        """{node id: "head" or "worker"} of the live Ray nodes (the worker known by its port)."""
        code = (f"import ray, json; ray.init(address='{self.address}', logging_level='ERROR'); "
                "print(json.dumps({n['NodeID']: n['NodeManagerPort'] for n in ray.nodes() if n['Alive']}))")
        out = subprocess.run([sys.executable, "-c", code], env=self.ray_env, capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            return {}
        ports = json.loads(out.stdout.strip().splitlines()[-1])
        return {node: "worker" if port == self.worker_manager_port else "head" for node, port in ports.items()}

    def worker_raylet(self) -> int | None:
        """PID of the worker node's raylet (found by its node-manager port)."""
        port = f"--node_manager_port={self.worker_manager_port}"
        found = processes(lambda proc: (args := command_line(proc).split("\0"))[0].endswith("raylet")
                          and port in args)
        return found[0] if found else None

    def kill_worker_node(self) -> None:
        """SIGKILL the worker node's raylet and every process it started (its trials' workers)."""
        raylet = self.worker_raylet()
        if raylet is None:
            raise RuntimeError("no worker raylet found")
        kill([raylet, *processes(lambda proc: parent(proc) == raylet)])

    def ray_processes(self) -> list[int]:
        """PIDs of this cluster's Ray processes, known by the token they inherited."""
        ours = f"RAY_AUTH_TOKEN={self.ray_env['RAY_AUTH_TOKEN']}".encode()
        return processes(lambda proc: ours in (proc / "environ").read_bytes().split(b"\0"))

    def monitor(self) -> list[int]:
        """PIDs of the head's autoscaler monitor."""
        return [pid for pid in self.ray_processes()
                if "autoscaler/_private/monitor.py" in command_line(Path(f"/proc/{pid}"))]

    def kill_ray(self) -> None:
        """SIGKILL this cluster's Ray processes. Not `ray stop`: it kills every Ray process on the
        machine, a user's own cluster or another test's too."""
        kill(self.ray_processes())

    # ----------------------------------------------------------------- all
    def start(self) -> LocalCluster:
        self.start_postgres()
        self.start_mlflow()
        self.start_ray_head()
        self.start_ray_worker()
        return self

    def stop(self) -> None:
        self.kill_ray()
        self.stop_mlflow()
        stop_postgres(self.root, self._as_postgres)
        shutil.rmtree(self.root, ignore_errors=True)
