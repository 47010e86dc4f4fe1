"""The independent critic's schedule of the laptop specs (quickstart, the digits comparison) is
long enough to be a metric: trained as a trial trains it (steps_per_report at every report from
half of max_iter), it rates a collapsed generator (one image, always) well below the data itself.
A critic of 125 steps, or one as narrow as the trials' networks (width 0.125), rated such a
generator within 0.5 of the data."""

from pathlib import Path

import pytest
import torch

from orchestrator.sweep_spec import load_sweep_spec
from trainer import TrialConfig, load_dataset
from trainer.data import to_float
from trainer.metrics import IndependentCritic
from trainer.networks import DATASET_ARCHITECTURE

SPACES = Path(__file__).resolve().parents[2] / "search_spaces"

pytestmark = pytest.mark.slow


def schedule_steps(spec) -> int:
    """Critic steps in a whole trial: one round per report from half of max_iter on."""
    cfg = TrialConfig.from_dict({**spec.trials[0], "device": "cpu"})
    reports = [i for i in range(cfg.report_every, cfg.max_iter + 1, cfg.report_every) if 2 * i >= cfg.max_iter]
    return len(reports) * spec.independent_critic.steps_per_report


def ratings(dataset: str, width: float, steps: int, seed: int) -> tuple[float, float]:
    """-W of a critic of ``steps`` trained against the data itself (about 0), and of one trained
    against a collapsed generator (one image, always)."""
    data = load_dataset(dataset, log=lambda m: None)
    train = to_float(data.train)
    pick = torch.Generator().manual_seed(0)

    def like_the_data(n):
        return train[torch.randint(len(train), (n,), generator=pick)]

    def collapsed(n):
        return train[:1].expand(n, -1, -1, -1)

    rated = []
    for sample in (like_the_data, collapsed):
        critic = IndependentCritic(DATASET_ARCHITECTURE[dataset], data.val, data.test, width=width, seed=seed)
        critic.train(sample, steps)
        rated.append(critic.neg_w_test(sample))
    return rated[0], rated[1]


def test_the_schedules_critic_tells_a_collapsed_generator_from_the_data():
    """Each laptop spec's critic (its dataset, width, steps and seed), trained once: specs that
    share all four train the same critic."""
    torch.set_num_threads(1)
    schedules = {}
    for name in ("quickstart", "digits_alphagan"):
        spec = load_sweep_spec(SPACES / f"{name}.yaml")
        cfg = TrialConfig.from_dict({**spec.trials[0], "device": "cpu"})
        steps = schedule_steps(spec)
        assert steps >= 500, name
        width = spec.independent_critic.width or cfg.width
        schedules.setdefault((cfg.dataset, width, steps, cfg.seed), []).append(name)
    for (dataset, width, steps, seed), names in schedules.items():
        own, bad = ratings(dataset, width, steps, seed)
        print(f"{', '.join(names)}: critic of {steps} steps at width {width}: -W data {own:.3f}, "
              f"collapsed generator {bad:.3f}")
        assert bad < own - 5.0                            # measured: about -15 against about 0
