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
    assert resolved["services"]["mlflow"]["environment"]["POSTGRES_PASSWORD"] == "s3cret"


def test_ports_are_published_on_loopback_only_by_default(config):
    published = [(name, port) for name, service in config["services"].items() for port in service.get("ports", [])]
    assert published, "MLflow and the Ray dashboard should be reachable from this machine"
    for name, port in published:
        assert port.startswith("127.0.0.1:"), (name, port)


def test_mlflow_runs_on_postgres_with_served_artifacts_and_allowed_hosts(config):
    mlflow = config["services"]["mlflow"]
    command = " ".join(mlflow["command"])
    assert "postgresql+psycopg2://mlflow:" in command and "@postgres:5432/mlflow" in command
    assert "--serve-artifacts" in command and "--artifacts-destination /mlartifacts" in command
    assert "--allowed-hosts" in command and "mlflow:5000" in command
    assert mlflow["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "postgres-data:/var/lib/postgresql/data" in " ".join(config["services"]["postgres"]["volumes"])


def test_ray_nodes_use_token_auth_shared_storage_and_gpus(config):
    services = config["services"]
    for name in ("ray-head", "ray-worker", "sweep"):
        env = services[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"] == "change-me-too"
        assert any(v.startswith("ray-storage:/shared") for v in services[name]["volumes"]), name
    devices = services["ray-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]
    assert "container_name" not in services["ray-worker"]                # --scale ray-worker=N works
    sweep = services["sweep"]
    assert sweep["profiles"] == ["sweep"] and sweep["restart"] == "no"
    command = sweep["command"]
    assert command[:2] == ["orchestrate", "sweep"]
    assert command[command.index("--address") + 1] == "ray-head:6379"
    assert command[command.index("--tracking-uri") + 1] == "http://mlflow:5000"
    assert command[command.index("--storage") + 1].startswith("/shared/")
    assert (ROOT / command[2]).is_file()                                   # the spec ships in the image
