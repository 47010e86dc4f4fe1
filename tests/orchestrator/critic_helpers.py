"""The trial whose generator the critic actor's tests hand over."""

from trainer import TrialConfig, build_algorithm

#: embedded digits, narrow networks: a critic actor starts and trains in seconds
CRITIC_TEST_TRIAL = {"model": "alphagan", "dataset": "digits", "width": 0.125, "latent_dim": 8, "batch_size": 16,
                     "max_iter": 20}


def initial_generator_state(hp: dict) -> dict:
    """The freshly built generator of the trial ``hp`` (on the CPU), detached."""
    algo = build_algorithm(TrialConfig.from_dict({**hp, "device": "cpu"}))
    return {k: v.detach().clone() for k, v in algo.nets["generator"].state_dict().items()}
