"""shutdown_ray: the Ray instance a driver started is stopped whole, its autoscaler monitor first
(killed outright: sent SIGTERM after the GCS had stopped, it hung until Ray killed it a second
later). A driver joined to a cluster stops none of the cluster's processes: test_cluster.py."""

import json
import subprocess
import sys
import time
from pathlib import Path

from ..processes import state

SCRIPT = """
import json, logging, ray
from orchestrator.local_ray import shutdown_ray
ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
node = ray._private.worker._global_node
started = {kind: [info.process.pid for info in infos] for kind, infos in node.all_processes.items()}
monitor = node.all_processes["monitor"][0].process
order, kill = [], type(node)._kill_process_impl
type(node)._kill_process_impl = lambda self, kind, **how: order.append((kind, how)) or kill(self, kind, **how)
shutdown_ray()
print(json.dumps({"started": started, "order": order, "monitor_exit": monitor.returncode}))
"""


def alive(pid: int) -> bool:
    try:
        return state(Path(f"/proc/{pid}")) != "Z"
    except OSError:
        return False


def test_a_local_instance_is_stopped_whole_its_monitor_killed_outright():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"raylet", "gcs_server", "monitor"} <= set(result["started"]), result
    (first, how), *rest = result["order"]
    assert first == "monitor" and not how.get("allow_graceful"), result["order"]    # before the GCS, no SIGTERM
    assert [kind for kind, _ in rest][:2] == ["raylet", "gcs_server"] and result["monitor_exit"] == -9
    pids = [pid for pids in result["started"].values() for pid in pids]
    deadline = time.time() + 10
    while any(map(alive, pids)) and time.time() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in pids if alive(pid)]
    assert "Traceback" not in out.stderr and "autoscaler" not in out.stderr.lower(), out.stderr[-3000:]
