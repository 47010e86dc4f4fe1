"""docker/wheelhouse.py (`make wheelhouse`): Ray's wheel repacked slim stays a valid wheel, the
target's own packages are left out, and a wheelhouse built for this Python, installed offline
beside PyTorch, runs a real sweep (slim Ray, MLflow's client on SQLite)."""

import hashlib
import subprocess
import sys
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docker"))
import wheelhouse  # noqa: E402


def record_line(name, data):
    digest = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def fake_ray_wheel(folder):
    files = {"ray/__init__.py": b"VERSION = 'x'\n", "ray/tune/__init__.py": b"", "ray/jars/ray_dist.jar": b"J" * 5000,
             "ray/rllib/__init__.py": b"", "ray/dashboard/client/build/index.html": b"<html>"}
    meta = {"ray-9.9.dist-info/METADATA": b"Metadata-Version: 2.1\nName: ray\nVersion: 9.9\n",
            "ray-9.9.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                       b"Tag: py3-none-any\n"}
    record = "\n".join([record_line(n, d) for n, d in {**files, **meta}.items()] + ["ray-9.9.dist-info/RECORD,,"])
    path = folder / "ray-9.9-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in {**files, **meta, "ray-9.9.dist-info/RECORD": record.encode()}.items():
            wheel.writestr(name, data)
    return path


def test_the_slim_ray_wheel_leaves_out_java_and_unused_libraries_and_still_installs(tmp_path):
    wheel = fake_ray_wheel(tmp_path)
    saved = wheelhouse.slim_wheel(wheel)
    names = zipfile.ZipFile(wheel).namelist()
    assert saved > 4000 and "ray/jars/ray_dist.jar" not in names and "ray/rllib/__init__.py" not in names
    assert "ray/dashboard/client/build/index.html" not in names and "ray/tune/__init__.py" in names
    record = zipfile.ZipFile(wheel).read("ray-9.9.dist-info/RECORD").decode()
    assert "jars" not in record and "ray/tune/__init__.py" in record and "ray-9.9.dist-info/RECORD,," in record
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--target",
                          str(tmp_path / "site"), str(wheel)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr                     # pip checks RECORD's hashes
    assert (tmp_path / "site" / "ray" / "tune" / "__init__.py").is_file()
    assert not (tmp_path / "site" / "ray" / "jars").exists()


def test_what_the_target_has_is_named_in_a_freeze_list(tmp_path):
    have = tmp_path / "have.txt"
    have.write_text("# pip list --format=freeze\nNumPy==2.5.2\ntorch==2.11.0\npython_dateutil==2.9\n\n")
    assert wheelhouse.read_have(have) == {"numpy", "torch", "python-dateutil"}
    assert wheelhouse.pinned_requirements()[:3] == ["ray[tune]==2.60.0", "mlflow-skinny==3.18.0", "optuna==5.1.0"]


@pytest.mark.slow
def test_a_wheelhouse_for_this_python_runs_a_sweep_offline(tmp_path):
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    out = subprocess.run([sys.executable, str(ROOT / "docker" / "wheelhouse.py"), "--python-version", version,
                          "--out", str(tmp_path / "wh"), "--limit-mib", "1000"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "repacked slim" in out.stdout
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links",
                              str(tmp_path / "wh"), "--target", str(tmp_path / "site"), "-r",
                              str(tmp_path / "wh" / "requirements.txt")], capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    code = ("import sys, ray, mlflow; assert ray.__file__.startswith(sys.argv[1]) and "
            "mlflow.__file__.startswith(sys.argv[1]); from orchestrator.cli import main; "
            "sys.exit(main(['sweep', 'search_spaces/smoke.yaml', '--storage', sys.argv[2]]))")
    sweep = subprocess.run([sys.executable, "-c", code, str(tmp_path / "site"), str(tmp_path / "sweeps")],
                           env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tmp_path / 'site'}:{ROOT}",
                                "HOME": str(tmp_path)}, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert "4 finished" in sweep.stderr
