"""`orchestrate ui` serves the MLflow UI of a sweep store on 127.0.0.1 only."""

import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from orchestrator.layout import default_tracking_uri
from orchestrator.tracking import ensure_experiment

from ..ports import free_port


def listening_addresses(port: int) -> set[str]:
    """Local addresses listening on ``port`` (from /proc/net/tcp, IPv4)."""
    found = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":             # LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


@pytest.mark.slow
def test_ui_serves_the_store_on_loopback(tmp_path):
    """... and stops with the command: a SIGTERM to it alone left MLflow's server (uvicorn, its
    workers, its job consumers) running and holding the port."""
    ensure_experiment(default_tracking_uri(tmp_path), "ui-check", tmp_path)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "ui", "--storage", str(tmp_path),
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        deadline, status = time.time() + 120, None
        while time.time() < deadline and status != 200:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).status
            except OSError:
                time.sleep(1)
        assert status == 200
        assert listening_addresses(port) == {"127.0.0.1"}
        for _ in range(3):                                      # the UI polls the server like this
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=10",
                                   timeout=5).read()
    finally:
        process.send_signal(signal.SIGTERM)        # the command alone (timeout, kill): the server goes with it
        process.wait(timeout=30)
    deadline = time.time() + 10
    while listening_addresses(port) and time.time() < deadline:
        time.sleep(0.5)
    assert process.returncode == 128 + signal.SIGTERM and listening_addresses(port) == set()
    said = process.stderr.read().decode()
    # a line per request, and every server worker's start-up lines and deprecation warning, only with --verbose
    assert said.startswith(f"MLflow UI on http://127.0.0.1:{port} ") and "/api/2.0/mlflow" not in said, said
    assert "Deprecation" not in said and "Started server process" not in said and "Registry store" not in said, said
    # MLflow's hint named `mlflow ui` options (--host 0.0.0.0, --allowed-hosts) this command does not have
    assert f"on this machine only (from another: ssh -L {port}:127.0.0.1:{port} " in said.splitlines()[0], said
    assert "--allowed-hosts" not in said, said


def test_ui_without_a_store_is_one_clear_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "ui", "--storage", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1 and "no MLflow store in" in lines[0]


def test_ui_on_a_port_in_use_is_one_clear_line(tmp_path):
    """Before, MLflow's server printed 'Address already in use' among its start-up lines and exited 0."""
    ensure_experiment(default_tracking_uri(tmp_path), "ui-check", tmp_path)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "orchestrator.cli", "ui", "--storage", str(tmp_path), "--port",
                              str(port)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stderr.strip() == (
        f"orchestrate ui: error: --port {port} is in use on 127.0.0.1 (Address already in use; another MLflow "
        "UI?): stop that server or pass another --port")
