"""Stopping the Ray instance a driver started for itself, without Ray's one-second wait.

`ray.shutdown()` stops the raylet and the GCS first, then sends SIGTERM to the autoscaler's
monitor. The monitor's handler reports its end to the GCS, which is gone, so it hangs until
Ray kills it a second later: a second of every sweep's end (1.0 of 1.4 s, Ray 2.60). A local
instance has nothing to autoscale, so the monitor is killed outright first, as Ray's own
`Node.kill_monitor` does, and the rest stops as before. A driver that joined a cluster
(``--address``) stops nothing of it."""

from __future__ import annotations


def shutdown_ray() -> None:
    """``ray.shutdown()``; with an instance this process started (the head node), its monitor is
    killed first. Joined to a cluster, the driver only disconnects, as before."""
    import ray

    node = getattr(ray._private.worker, "_global_node", None)
    if node is not None and node.is_head() and hasattr(node, "kill_monitor"):
        node.kill_monitor(check_alive=False)
    ray.shutdown()
