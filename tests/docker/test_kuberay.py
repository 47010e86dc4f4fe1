"""docker/kuberay/: the RayCluster, the RayJob, the MLflow server and the volumes agree on the
image, the MLflow URI, token authentication, GPUs and the shared storage."""

from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

KUBERAY = Path(__file__).resolve().parents[2] / "docker" / "kuberay"


@pytest.fixture(scope="module")
def manifests():
    documents = {}
    for path in sorted(KUBERAY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["apiVersion"] and doc["metadata"]["name"], path
            documents[(doc["kind"], doc["metadata"]["name"])] = doc
    return documents


def containers(pod_template):
    return pod_template["spec"]["containers"]


def env(container):
    return {e["name"]: e for e in container.get("env", [])}


def test_every_kind_is_there(manifests):
    assert set(manifests) == {("RayCluster", "alphagan"), ("RayJob", "colormnist-alphagan"),
                              ("Deployment", "mlflow"), ("Service", "mlflow"),
                              ("PersistentVolumeClaim", "alphagan-shared"),
                              ("PersistentVolumeClaim", "alphagan-mlflow-artifacts"),
                              ("PersistentVolumeClaim", "alphagan-data")}


def test_raycluster_gpu_workers_token_auth_and_shared_volume(manifests):
    cluster = manifests[("RayCluster", "alphagan")]
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["spec"]["rayVersion"] == version("ray")          # the image's Ray
    head = containers(cluster["spec"]["headGroupSpec"]["template"])[0]
    (group,) = cluster["spec"]["workerGroupSpecs"]
    worker = containers(group["template"])[0]
    assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert cluster["spec"]["headGroupSpec"]["rayStartParams"]["num-gpus"] == "0"
    for container in (head, worker):
        variables = env(container)
        assert variables["RAY_AUTH_MODE"]["value"] == "token"
        assert variables["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "alphagan-ray"
        assert variables["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow:5000"
        assert variables["MLFLOW_TRACKING_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "alphagan-mlflow"
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["shared"] == "/shared" and mounts["data"] == "/data"
    for template in (cluster["spec"]["headGroupSpec"]["template"], group["template"]):
        claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in template["spec"]["volumes"]}
        assert claims["shared"] == "alphagan-shared" and claims["data"] == "alphagan-data"
        assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert manifests[("PersistentVolumeClaim", "alphagan-shared")]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_one_image_everywhere(manifests):
    cluster = manifests[("RayCluster", "alphagan")]["spec"]
    images = {containers(cluster["headGroupSpec"]["template"])[0]["image"],
              containers(cluster["workerGroupSpecs"][0]["template"])[0]["image"],
              containers(manifests[("Deployment", "mlflow")]["spec"]["template"])[0]["image"],
              containers(manifests[("RayJob", "colormnist-alphagan")]["spec"]["submitterPodTemplate"])[0]["image"]}
    assert images == {"alphagan-sweeps:latest"}


def test_rayjob_runs_the_sweep_against_the_cluster_and_the_mlflow_service(manifests):
    job = manifests[("RayJob", "colormnist-alphagan")]["spec"]
    assert job["clusterSelector"]["ray.io/cluster"] == "alphagan"
    entry = job["entrypoint"].split()
    assert entry[:2] == ["orchestrate", "sweep"] and entry[2].endswith("colormnist_alphagan.yaml")
    assert entry[entry.index("--tracking-uri") + 1] == "http://mlflow:5000"
    assert entry[entry.index("--storage") + 1].startswith("/shared/")
    service = manifests[("Service", "mlflow")]["spec"]
    assert service["ports"][0]["port"] == 5000 and service["selector"] == {"app": "mlflow"}
    mlflow = containers(manifests[("Deployment", "mlflow")]["spec"]["template"])[0]
    assert mlflow["command"] == ["sh", "/opt/alphagan/docker/mlflow-server.sh"] and "args" not in mlflow
    variables = env(mlflow)
    assert "mlflow:5000" in variables["MLFLOW_ALLOWED_HOSTS"]["value"]
    for name in ("PGPASSWORD", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        assert variables[name]["valueFrom"]["secretKeyRef"]["name"] == "alphagan-mlflow"     # never a literal
        assert name in variables["ALPHAGAN_SECRETS"]["value"]
