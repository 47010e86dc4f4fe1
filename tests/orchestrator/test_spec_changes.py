"""What --resume names when a sweep's spec changed (orchestrator/spec_changes.py)."""

import yaml

from orchestrator.spec_changes import describe, spec_changes

STARTED = yaml.safe_load("""
name: smoke
trial: {model: alphagan, max_iter: 20, lr_discriminator: 0.0005}
grid: {lr_generator: [0.0001, 0.0005], recon_weight_encoder: [1, 10]}
independent_critic: {enabled: true, steps_per_report: 5}
""")


def changed(edit):
    now = yaml.safe_load(yaml.safe_dump(STARTED, sort_keys=False))
    edit(now)
    return spec_changes(STARTED, now)


def test_each_changed_setting_is_named_with_both_values():
    def edit(now):
        now["independent_critic"]["steps_per_report"] = 6
        now["grid"]["lr_generator"] = [0.0002, 0.0005]
        del now["trial"]["lr_discriminator"]
        now["trial"]["seed"] = 3
        now["max_failures"] = 2

    assert changed(edit) == [
        "trial.lr_discriminator: removed (was 0.0005)",
        "trial.seed: added (3)",
        "grid.lr_generator: was [0.0001, 0.0005], now [0.0002, 0.0005]",
        "independent_critic.steps_per_report: was 5, now 6",
        "max_failures: added (2)",
    ]


def test_the_grids_key_order_is_the_order_of_the_trials_and_counts():
    def swap_grid(now):
        now["grid"] = {"recon_weight_encoder": [1, 10], "lr_generator": [0.0001, 0.0005]}

    assert changed(swap_grid) == ["grid: its keys in another order (lr_generator, recon_weight_encoder then; "
                                  "recon_weight_encoder, lr_generator now), which is another order of the trials"]

    def swap_values(now):
        now["grid"]["lr_generator"] = [0.0005, 0.0001]

    assert changed(swap_values) == ["grid.lr_generator: was [0.0001, 0.0005], now [0.0005, 0.0001]"]


def test_another_key_order_elsewhere_and_a_numbers_spelling_are_the_same_sweep():
    """YAML 1.1 reads 1e-4 (no dot) as a string; the sweep reads it as the number."""
    def respell(now):
        now["trial"] = {"lr_discriminator": "5e-4", "max_iter": 20, "model": "alphagan"}
        now["grid"]["lr_generator"] = ["1e-4", 5.0e-4]
        now["grid"]["recon_weight_encoder"] = [1.0, 10]

    assert changed(respell) == []


def test_the_data_may_move():
    """trial.data_root is where the datasets are (--resume reads the new one), not what a trial trains."""
    assert changed(lambda now: now["trial"].update(data_root="/new/disk")) == []
    moved = dict(STARTED, trial={**STARTED["trial"], "data_root": "/old"})
    assert spec_changes(moved, dict(STARTED, trial={**STARTED["trial"], "data_root": "/new"})) == []
    assert spec_changes(moved, STARTED) == []


def test_a_flag_is_not_the_number_one():
    assert changed(lambda now: now["independent_critic"].update(enabled=1)) == [
        "independent_critic.enabled: was true, now 1"]
    assert changed(lambda now: now["trial"].update(model="1e-4")) == [
        'trial.model: was "alphagan", now "1e-4"']


def test_a_long_value_is_cut_and_changes_past_the_third_are_counted():
    def edit(now):
        now["grid"]["lr_generator"] = [i / 10_000 for i in range(1, 40)]

    (change,) = changed(edit)
    assert change.startswith("grid.lr_generator: was [0.0001, 0.0005], now [0.0001, 0.0002,")
    assert len(change.split(", now ")[1]) == 60 and change.endswith("...")
    assert describe(["a", "b", "c", "d", "e"]) == "a; b; c (and 2 more changes)"
    assert describe(["a", "b", "c", "d"]) == "a; b; c (and 1 more change)"
    assert describe(["a"]) == "a"
