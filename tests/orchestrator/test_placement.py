"""What a trial reserves: under gpus: auto, trials_per_gpu trials and their critics share one GPU
(the critic takes a tenth of its trial's slot), checked against a real Ray node with one
logical GPU."""

import pytest
import ray
import yaml
from ray.util.placement_group import placement_group, remove_placement_group

from orchestrator import placement
from orchestrator.local_ray import shutdown_ray
from orchestrator.sweep_spec import load_sweep_spec

from .sweep_helpers import SMOKE


def spec_with(tmp_path, resources, critic=None, device="auto"):
    content = yaml.safe_load(SMOKE.read_text())
    content["resources"] = resources
    content["independent_critic"].update(critic or {})
    content["trial"]["device"] = device
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(content))
    return load_sweep_spec(path)


@pytest.mark.parametrize("per_gpu, trial, critic", [(4, 0.225, 0.025), (8, 0.1125, 0.0125), (16, 0.0563, 0.0062)])
def test_auto_shares_fit_trials_per_gpu_trials_and_their_critics(tmp_path, per_gpu, trial, critic):
    spec = spec_with(tmp_path, {"cpus": 1, "gpus": "auto", "trials_per_gpu": per_gpu},
                     {"cpus": 1, "gpus": "auto"})
    bundles = placement.bundles(spec, cluster_gpus=1)
    assert bundles == [{"CPU": 1, "GPU": trial}, {"CPU": 1, "GPU": critic}]
    assert per_gpu * (trial + critic) <= 1.0


def test_cpu_clusters_and_cpu_trials_get_no_gpu(tmp_path):
    spec = spec_with(tmp_path, {"cpus": 1, "gpus": "auto", "trials_per_gpu": 8}, {"cpus": 0.5, "gpus": "auto"})
    assert placement.bundles(spec, cluster_gpus=0) == [{"CPU": 1}, {"CPU": 0.5}]
    cpu_trials = spec_with(tmp_path, {"cpus": 1, "gpus": "auto", "trials_per_gpu": 8}, device="cpu")
    assert placement.bundles(cpu_trials, cluster_gpus=4) == [{"CPU": 1}, {"CPU": 0.5}]


def test_explicit_shares_are_kept(tmp_path):
    spec = spec_with(tmp_path, {"cpus": 1, "gpus": 0.2, "trials_per_gpu": 4}, {"cpus": 1, "gpus": 0.05})
    assert placement.bundles(spec, cluster_gpus=1) == [{"CPU": 1, "GPU": 0.2}, {"CPU": 1, "GPU": 0.05}]
    auto_trial = spec_with(tmp_path, {"cpus": 1, "gpus": "auto", "trials_per_gpu": 4}, {"cpus": 1, "gpus": 0.05})
    assert placement.bundles(auto_trial, cluster_gpus=1)[0]["GPU"] == 0.25      # the whole slot


@pytest.mark.slow
def test_eight_trials_and_their_critics_are_placed_on_one_gpu(tmp_path):
    """Ray itself places 8 placement groups of trials_per_gpu: 8 on a node with one (logical) GPU,
    and not a ninth."""
    spec = spec_with(tmp_path, {"cpus": 1, "gpus": "auto", "trials_per_gpu": 8}, {"cpus": 1, "gpus": "auto"})
    bundles = placement.bundles(spec, cluster_gpus=1)
    ray.init(address="local", num_cpus=32, num_gpus=1, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)
    try:
        groups = [placement_group(bundles, strategy="PACK") for _ in range(8)]
        assert all(group.wait(timeout_seconds=60) for group in groups)
        ninth = placement_group(bundles, strategy="PACK")
        assert not ninth.wait(timeout_seconds=3)
        print(f"trials_per_gpu: 8 -> bundles {bundles}; 8 placed on one GPU, the 9th waits")
        for group in [*groups, ninth]:
            remove_placement_group(group)
    finally:
        shutdown_ray()


NODE_2CPU, NODE_8CPU_1GPU = {"CPU": 2.0}, {"CPU": 8.0, "GPU": 1.0}


@pytest.mark.parametrize("needed, nodes, short", [
    ([{"CPU": 1.5}, {"CPU": 0.5}], [NODE_2CPU], []),
    ([{"CPU": 2.0}, {"CPU": 0.5}], [NODE_2CPU], ["CPU"]),
    ([{"CPU": 2.0}, {"CPU": 0.5}], [NODE_2CPU, NODE_2CPU], []),             # PACK spreads the bundles
    ([{"CPU": 4.0}, {"CPU": 0.5}], [NODE_2CPU, NODE_2CPU, NODE_2CPU], ["CPU"]),   # no bundle splits
    ([{"CPU": 1.0, "GPU": 1.0}, {"CPU": 0.5}], [NODE_2CPU], ["GPU"]),
    ([{"CPU": 1.0, "GPU": 0.9}, {"CPU": 1.0, "GPU": 0.2}], [NODE_8CPU_1GPU], ["GPU"]),
    ([{"CPU": 1.0, "GPU": 0.9}, {"CPU": 1.0, "GPU": 0.2}], [NODE_8CPU_1GPU, NODE_2CPU, NODE_8CPU_1GPU], []),
    ([{"CPU": 3.0}, {"CPU": 1.0, "GPU": 1.0}], [NODE_2CPU, {"CPU": 1.0, "GPU": 1.0}], ["CPU"]),
    ([{"CPU": 16.0, "GPU": 2.0}], [NODE_8CPU_1GPU] * 300, ["CPU", "GPU"]),
    ([{"CPU": 1.0}], [], ["CPU", "GPU"]),
])
def test_short_resources_are_what_no_placement_on_the_nodes_can_give(needed, nodes, short):
    assert placement.short_resources(needed, nodes) == short


def test_short_resources_agrees_with_ray_on_a_real_node(tmp_path, capsys):
    """On a 2-CPU Ray node: a group short_resources passes is placed by Ray; one it refuses is not."""
    fits = placement.bundles(spec_with(tmp_path, {"cpus": 1.5, "gpus": 0}, {"cpus": 0.5, "gpus": 0}), 0)
    too_big = placement.bundles(spec_with(tmp_path, {"cpus": 2, "gpus": 0}, {"cpus": 0.5, "gpus": 0}), 0)
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)
    try:
        nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
        assert placement.short_resources(fits, nodes) == [] and placement.short_resources(too_big, nodes) == ["CPU"]
        placed = placement_group(fits, strategy="PACK")
        assert placed.wait(timeout_seconds=60)
        remove_placement_group(placed)
        never = placement_group(too_big, strategy="PACK")
        assert not never.wait(timeout_seconds=3)
        remove_placement_group(never)

        from orchestrator.errors import SpecError
        from orchestrator.sweep import check_fits
        spec = spec_with(tmp_path, {"cpus": 2, "gpus": 0}, {"cpus": 0.5, "gpus": 0})
        with pytest.raises(SpecError, match=r"more CPU than this machine has \(CPU 2, GPU 0\): lower resources.cpus"):
            check_fits(spec, 0, address=None)
        check_fits(spec, 0, address="ray-head:6379")        # a cluster may still grow: a warning, no error
        assert capsys.readouterr().err.startswith("warning: a trial reserves [{'CPU': 2}, {'CPU': 0.5}] (its bundle, "
                                                  "then its critic's), more CPU than any node of the cluster has now")

        from orchestrator.sweep import check_evaluation_fits
        check_evaluation_fits(spec, address="ray-head:6379")   # 10,000 samples fit
        big = spec_with(tmp_path, {"cpus": 1, "gpus": 0})
        object.__setattr__(big.evaluation, "samples", 10**9)
        check_evaluation_fits(big, address="ray-head:6379")   # a bigger node may join: a warning
        warning = capsys.readouterr().err
        assert warning.startswith("warning: evaluation.samples 1,000,000,000 need 8.6 TiB of memory in each trial's "
                                  "final evaluation, more than Ray gives tasks on any node (")
        assert warning.endswith("or add a node with more memory\n")
    finally:
        shutdown_ray()
