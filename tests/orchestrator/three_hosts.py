"""Three hosts on this machine, as a lab has them: Linux network namespaces joined by a bridge,
each with its own private address (10.77.<n>.1-3/24) and nothing else routed.

- host A: PostgreSQL (on A's own loopback), the MLflow server with basic auth
  (docker/mlflow-server.sh, the script the Compose file runs) and the Ray head (no CPUs for
  trials, as in docker/compose.yaml);
- host B: a Ray worker node, the only place trials can run;
- host C: no Ray node and no MLflow credentials, only the driver (`orchestrate sweep --address
  http://A:8265`).

The test process itself sits on the bridge (.254) to watch the hosts. The file system is shared,
as an NFS volume of a real cluster is: the sweep's storage and the dataset cache. Everything is
created by start() and removed by stop(), also after a failure. Needs root (CI runs as root)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from ..processes import command_line, kill, network_namespace, processes
from .local_cluster import BIN, _wait
from .postgres import postgres_bin, start_postgres, stop_postgres

REPO = Path(__file__).resolve().parents[2]
MLFLOW_SERVER = REPO / "docker" / "mlflow-server.sh"


def can_make_namespaces() -> str | None:
    """Why this machine cannot run the test (None: it can)."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    if postgres_bin() is None:
        return "needs PostgreSQL's server programs"
    return None


class ThreeHosts:
    def __init__(self):
        tag = f"{os.getpid() % 10000:04d}"
        self.subnet = 10 + os.getpid() % 200
        self.ns = {h: f"ag{tag}{h}" for h in "ABC"}
        self.bridge = f"agbr{tag}"
        self.ip = {h: f"10.77.{self.subnet}.{i}" for i, h in enumerate("ABC", start=1)}
        self.root = Path(tempfile.mkdtemp(prefix="ag3-", dir="/tmp"))
        self.root.chmod(0o755)
        self.log = self.root / "logs"
        self.log.mkdir()
        self.pg_port, self.mlflow_port = 5432, 5000
        self.db_password = secrets.token_hex(16)
        self.user, self.password = "sweeper", secrets.token_hex(16)
        self.token = secrets.token_hex(16)
        self.mlflow: subprocess.Popen | None = None
        self.made: list[str] = []

    # ----------------------------------------------------------------- network
    def _sh(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def on(self, host: str, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns[host], *command]

    def make_network(self) -> None:
        self._sh("ip", "link", "add", self.bridge, "type", "bridge")
        self.made.append("bridge")
        self._sh("ip", "addr", "add", f"10.77.{self.subnet}.254/24", "dev", self.bridge)
        self._sh("ip", "link", "set", self.bridge, "up")
        for host, ns in self.ns.items():
            self._sh("ip", "netns", "add", ns)
            self.made.append(ns)
            inside, outside = f"{ns}i", f"{ns}o"
            self._sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            self._sh("ip", "link", "set", inside, "netns", ns)
            self._sh("ip", "link", "set", outside, "master", self.bridge)
            self._sh("ip", "link", "set", outside, "up")
            self._sh(*self.on(host, ["ip", "addr", "add", f"{self.ip[host]}/24", "dev", inside]))
            self._sh(*self.on(host, ["ip", "link", "set", inside, "up"]))
            self._sh(*self.on(host, ["ip", "link", "set", "lo", "up"]))

    # ----------------------------------------------------------------- host A: PostgreSQL, MLflow
    def _as_postgres(self, command: list[str]) -> list[str]:
        return self.on("A", ["runuser", "-u", "postgres", "--", *command])

    def start_postgres(self) -> None:
        start_postgres(self.root, self.pg_port, self.db_password, self._as_postgres)

    def sql(self, query: str) -> list[list[str]]:
        """Rows of a query to the MLflow database, on host A."""
        out = subprocess.run(self.on("A", ["psql", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "mlflow",
                                           "-d", "mlflow", "-At", "-F", "\t", "-c", query]),
                             env={**os.environ, "PGPASSWORD": self.db_password}, capture_output=True, text=True,
                             timeout=60, check=True)
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    @property
    def tracking_uri(self) -> str:
        return f"http://{self.ip['A']}:{self.mlflow_port}"

    def start_mlflow(self) -> None:
        artifacts = self.root / "mlartifacts"
        artifacts.mkdir()
        env = {"PATH": f"{BIN}:{os.environ['PATH']}", "HOME": str(self.root), "PGHOST": "127.0.0.1",
               "PGPORT": str(self.pg_port), "PGUSER": "mlflow", "PGDATABASE": "mlflow",
               "PGPASSWORD": self.db_password, "MLFLOW_TRACKING_USERNAME": self.user,
               "MLFLOW_TRACKING_PASSWORD": self.password, "MLFLOW_ARTIFACTS": str(artifacts),
               "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
               "MLFLOW_HOST": self.ip["A"], "MLFLOW_PORT": str(self.mlflow_port), "MLFLOW_WORKERS": "1",
               "MLFLOW_ALLOWED_HOSTS": f"{self.ip['A']}:{self.mlflow_port},{self.ip['A']}"}
        out = open(self.log / "mlflow.log", "a")
        self.mlflow = subprocess.Popen(self.on("A", ["sh", str(MLFLOW_SERVER)]), env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)

        def answers():
            if self.mlflow.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(self.log / 'mlflow.log').read_text()[-3000:]}")
            return self.http_status(f"{self.tracking_uri}/health") in (200, 401)

        _wait(answers, 180, "the MLflow server on host A")

    def http_status(self, url: str, credentials: tuple[str, str] | None = None) -> int | None:
        request = urllib.request.Request(url)
        if credentials:
            import base64

            request.add_header("Authorization", "Basic " + base64.b64encode(":".join(credentials).encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return None

    # ----------------------------------------------------------------- Ray
    def node_env(self, host: str) -> dict[str, str]:
        """A cluster machine's environment: the Ray token and the MLflow credentials (as the
        Compose file gives the Ray containers); trials and the job's driver inherit it."""
        return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN": self.token, "RAY_USAGE_STATS_ENABLED": "0",
                "MLFLOW_TRACKING_USERNAME": self.user, "MLFLOW_TRACKING_PASSWORD": self.password,
                "ALPHAGAN_CACHE": str(self.root / "cache"), "PYTHONPATH": str(REPO)}

    def laptop_env(self) -> dict[str, str]:
        """Host C: the Ray token to submit, no MLflow credentials, no Ray node."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RAY_"))}
        return {**env, "PATH": f"{BIN}:{os.environ['PATH']}", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token,
                "PYTHONPATH": str(REPO)}

    def _ray(self, host: str, *args: str) -> None:
        out = subprocess.run(self.on(host, [str(BIN / "ray"), *args]), env=self.node_env(host),
                             capture_output=True, text=True, timeout=180)
        if out.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args)} on host {host} failed:\n{out.stdout[-2000:]}\n"
                               f"{out.stderr[-2000:]}")

    def start_ray_head(self) -> None:
        self._ray("A", "start", "--head", "--node-ip-address", self.ip["A"], "--port", "6379", "--num-cpus", "0",
                  "--num-gpus", "0", "--dashboard-host", self.ip["A"], "--dashboard-port", "8265",
                  "--temp-dir", str(self.root / "rayA"), "--disable-usage-stats")

    @property
    def ray_address(self) -> str:
        """Host A's Ray head (GCS), as its nodes and in-cluster drivers join it."""
        return f"{self.ip['A']}:6379"

    def start_ray_worker(self) -> None:
        self._ray("B", "start", "--address", self.ray_address, "--node-ip-address", self.ip["B"],
                  "--num-cpus", "2", "--num-gpus", "0", "--temp-dir", str(self.root / "rayB"))
        _wait(lambda: len(self.alive_nodes()) == 2, 90, "host B's Ray node to join")

    def alive_nodes(self) -> dict[str, str]:
        """{node id: host} of the cluster's live nodes, asked on host A."""
        code = (f"import ray, json; ray.init(address='{self.ray_address}', logging_level='ERROR'); "
                "print('NODES', json.dumps({n['NodeID']: n['NodeManagerAddress'] for n in ray.nodes() if n['Alive']}))")
        out = subprocess.run(self.on("A", [sys.executable, "-c", code]), env=self.node_env("A"),
                             capture_output=True, text=True, timeout=120, cwd=self.root)
        if out.returncode != 0:
            return {}
        hosts = {ip: host for host, ip in self.ip.items()}
        found = [line[len("NODES "):] for line in out.stdout.splitlines() if line.startswith("NODES ")]
        return {node: hosts.get(ip, ip) for node, ip in json.loads(found[-1]).items()} if found else {}

    def kill_worker_node(self) -> int:
        """SIGKILL every process of host B's Ray node (raylet, trial workers, critic actors)."""
        netns = self._netns_id("B")
        return kill(processes(lambda proc: network_namespace(proc) == netns and
                              ("ray" in (args := command_line(proc)) or "orchestrator" in args)))

    def _netns_id(self, host: str) -> str:
        out = subprocess.run(self.on(host, ["readlink", "/proc/self/ns/net"]), capture_output=True, text=True)
        return out.stdout.strip()

    # ----------------------------------------------------------------- all
    def start(self) -> ThreeHosts:
        self.make_network()
        self.start_postgres()
        self.start_mlflow()
        self.start_ray_head()
        self.start_ray_worker()
        return self

    def stop(self) -> None:
        if self.mlflow is not None and self.mlflow.poll() is None:
            os.killpg(self.mlflow.pid, signal.SIGKILL)
            self.mlflow.wait(30)
        stop_postgres(self.root, self._as_postgres)
        for host in "ABC":         # its processes (Ray's too: `ray stop` would kill every Ray process on the machine)
            if self.ns[host] in self.made:
                netns = self._netns_id(host)
                kill(processes(lambda proc, netns=netns: network_namespace(proc) == netns))
                subprocess.run(["ip", "netns", "del", self.ns[host]], capture_output=True, timeout=60)
        if "bridge" in self.made:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
