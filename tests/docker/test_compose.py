"""docker/compose.yaml validated by docker-compose's own schema check (`docker-compose config`,
Debian's docker-compose package, which needs no Docker engine; .ci/run installs it), and its
key settings read from the resolved configuration."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
ENV_EXAMPLE = ROOT / "docker" / ".env.example"


def compose_config(compose: Path, env_file: Path) -> subprocess.CompletedProcess:
    tool = shutil.which("docker-compose")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose not installed: .ci/run must `apt-get install docker-compose`")
        pytest.skip("docker-compose not installed (apt-get install docker-compose)")
    return subprocess.run([tool, "-f", str(compose), "--env-file", str(env_file), "config"],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def config():
    out = compose_config(COMPOSE, ENV_EXAMPLE)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_compose_file_is_valid_and_has_every_service(config):
    assert set(config["services"]) == {"postgres", "mlflow", "ray-head", "ray-worker", "sweep"}
    assert set(config["volumes"]) == {"postgres-data", "mlflow-artifacts", "ray-storage"}


def test_validation_rejects_mistakes(tmp_path):
    bad = tmp_path / "compose.yaml"
    bad.write_text(COMPOSE.read_text().replace("shm_size: 8gb", "shm_sise: 8gb"))
    out = compose_config(bad, ENV_EXAMPLE)
    assert out.returncode != 0 and "shm_sise" in out.stderr
    no_password = tmp_path / ".env"
    no_password.write_text("\n".join(line for line in ENV_EXAMPLE.read_text().splitlines()
                                     if not line.startswith("POSTGRES_PASSWORD")))
    out = compose_config(COMPOSE, no_password)
    assert out.returncode != 0 and "set POSTGRES_PASSWORD in docker/.env" in out.stderr


def test_secrets_come_from_the_env_file(config, tmp_path):
    assert "change-me" not in COMPOSE.read_text()                     # nothing literal in the file
    env = tmp_path / ".env"
    env.write_text(ENV_EXAMPLE.read_text().replace("POSTGRES_PASSWORD=change-me", "POSTGRES_PASSWORD=s3cret"))
    resolved = yaml.safe_load(compose_config(COMPOSE, env).stdout)
    assert resolved["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret"
    assert resolved["services"]["mlflow"]["environment"]["PGPASSWORD"] == "s3cret"


def test_no_secret_is_on_a_command_line(config):
    secrets = {"change-me", "change-me-too", "change-me-three", "change-me-four"}
    for name, service in config["services"].items():
        command = " ".join(service.get("command") or [])
        assert not any(secret in command for secret in secrets), (name, command)
        assert "PASSWORD" not in command and "TOKEN" not in command, (name, command)


def test_every_container_checks_the_secrets_it_holds(config):
    for name, service in config["services"].items():
        env = service.get("environment") or {}
        held = {key for key, value in env.items() if key.endswith(("PASSWORD", "TOKEN", "SECRET_KEY"))}
        if name == "postgres":                                          # the official image, not ours
            continue
        assert held and held <= set(env["ALPHAGAN_SECRETS"].split()), (name, held)


def test_ports_are_published_on_loopback_only_by_default(config):
    published = [(name, port) for name, service in config["services"].items() for port in service.get("ports", [])]
    assert published, "MLflow should be reachable from this machine"
    for name, port in published:
        assert str(port["host_ip"] if isinstance(port, dict) else port).startswith("127.0.0.1"), (name, port)
    head = config["services"]["ray-head"]["command"]
    assert head[head.index("--dashboard-host") + 1] == "127.0.0.1"


def test_mlflow_runs_with_basic_auth_on_postgres(config):
    mlflow = config["services"]["mlflow"]
    assert mlflow["command"] == ["sh", "/opt/alphagan/docker/mlflow-server.sh"]
    script = (ROOT / "docker" / "mlflow-server.sh").read_text()
    assert "--app-name basic-auth" in script and "--serve-artifacts" in script
    assert mlflow["environment"]["PGHOST"] == "postgres"
    assert mlflow["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "postgres-data:/var/lib/postgresql/data" in " ".join(
        v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in config["services"]["postgres"]["volumes"])


RAY_PORT_FLAGS = ("--node-manager-port", "--object-manager-port", "--runtime-env-agent-port",
                  "--dashboard-agent-grpc-port", "--dashboard-agent-listen-port", "--metrics-export-port",
                  "--min-worker-port", "--max-worker-port")


def test_ray_nodes_pin_every_port_and_advertise_the_machines_address(config):
    services = config["services"]
    for name in ("ray-head", "ray-worker"):
        service, command = services[name], services[name]["command"]
        assert service["network_mode"] == "host", name
        assert command[command.index("--node-ip-address") + 1] == "127.0.0.1"        # NODE_IP
        for flag in RAY_PORT_FLAGS:
            assert flag in command, (name, flag)
        env = service["environment"]
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"] == "change-me-too"
        assert env["MLFLOW_TRACKING_USERNAME"] and env["MLFLOW_TRACKING_PASSWORD"] == "change-me-three"
        assert any(str(v).startswith("ray-storage:/shared") or (isinstance(v, dict) and v["target"] == "/shared")
                   for v in service["volumes"]), name
    head, worker = services["ray-head"]["command"], services["ray-worker"]["command"]
    assert set(head[head.index(f) + 1] for f in RAY_PORT_FLAGS).isdisjoint(
        worker[worker.index(f) + 1] for f in RAY_PORT_FLAGS)                   # both fit on one machine
    assert worker[worker.index("--address") + 1] == "127.0.0.1:6379"            # HEAD_ADDRESS
    devices = services["ray-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]
    ports_doc = (ROOT / "docs" / "cluster.md").read_text()
    for flag in RAY_PORT_FLAGS[:-2]:                                              # the docs list each
        assert head[head.index(flag) + 1] in ports_doc and worker[worker.index(flag) + 1] in ports_doc, flag


def test_the_sweep_service_submits_a_ray_job(config):
    sweep = config["services"]["sweep"]
    assert sweep["profiles"] == ["sweep"] and sweep["restart"] == "no"
    command = sweep["command"]
    assert command[:2] == ["orchestrate", "sweep"]
    assert command[command.index("--address") + 1] == "http://127.0.0.1:8265"
    assert command[command.index("--tracking-uri") + 1] == "http://127.0.0.1:5000"
    assert command[command.index("--storage") + 1].startswith("/shared/")
    assert (ROOT / command[2]).is_file()                                   # the spec ships in the image
    assert "MLFLOW_TRACKING_PASSWORD" not in sweep["environment"]          # the cluster's own, not sent


def test_the_several_machines_settings_reach_every_service(tmp_path):
    env = tmp_path / ".env"
    env.write_text(ENV_EXAMPLE.read_text().replace("NODE_IP=127.0.0.1", "NODE_IP=10.0.0.7")
                   .replace("HEAD_ADDRESS=127.0.0.1", "HEAD_ADDRESS=10.0.0.5")
                   .replace("# SHARED_ROOT=", "SHARED_ROOT="))
    resolved = yaml.safe_load(compose_config(COMPOSE, env).stdout)["services"]
    worker = resolved["ray-worker"]["command"]
    assert worker[worker.index("--address") + 1] == "10.0.0.5:6379"
    assert worker[worker.index("--node-ip-address") + 1] == "10.0.0.7"
    assert "10.0.0.5:5000" in resolved["mlflow"]["environment"]["MLFLOW_ALLOWED_HOSTS"]
    sweep = resolved["sweep"]["command"]
    assert sweep[sweep.index("--tracking-uri") + 1] == "http://10.0.0.5:5000"
    assert any((v if isinstance(v, str) else v["source"]).startswith("/mnt/alphagan-shared")
               for v in resolved["ray-worker"]["volumes"])


@pytest.mark.parametrize("value, needle", [
    ("change-me-three", "is still the placeholder of docker/.env.example"),
    ("short", "is shorter than 16 characters"),
    ("", "is not set"),
])
def test_the_entrypoint_refuses_placeholder_and_short_secrets_in_one_line(value, needle):
    out = subprocess.run([str(ROOT / "docker" / "entrypoint.sh"), "echo", "started"], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "ALPHAGAN_SECRETS": "MLFLOW_TRACKING_PASSWORD",
                              "MLFLOW_TRACKING_PASSWORD": value}, timeout=30)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and f"MLFLOW_TRACKING_PASSWORD {needle}" in out.stderr
    ok = subprocess.run([str(ROOT / "docker" / "entrypoint.sh"), "echo", "started"], capture_output=True, text=True,
                        env={"PATH": os.environ["PATH"], "ALPHAGAN_SECRETS": "A", "A": "0123456789abcdef"},
                        timeout=30)
    assert ok.returncode == 0 and ok.stdout == "started\n"
