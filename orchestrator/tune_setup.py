"""The Ray Tune side of a sweep: its parameter space (grid or Optuna), search algorithm and
scheduler, trial names, and the Tuner itself (new, or restored for --resume)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import layout
from .progress import ProgressLines
from .settings import TrialSettings
from .sweep_spec import SweepSpec
from .tune_state_keeper import KeepTuneState


def param_space(spec: SweepSpec, settings: TrialSettings) -> dict[str, Any]:
    from ray import tune

    if spec.search == "optuna":
        fixed = spec.trials[0]
        return {"hp": {**fixed, **{k: tune.choice(v) for k, v in spec.grid.items()}}, "settings": settings}
    return {"hp": tune.grid_search(list(spec.tune_trials)), "settings": settings}


def trial_dirname(trial) -> str:
    return layout.trial_folder_name(trial.trial_id)


def tune_config(spec: SweepSpec, storage: Path):
    from ray import tune

    # actor reuse: a trial's worker process (torch imported, data loaded, critic actor warm) runs
    # the next trial with the same resources; ALPHAGAN_REUSE_ACTORS=0 turns it off (benchmarks)
    reuse = os.environ.get("ALPHAGAN_REUSE_ACTORS", "1") != "0"
    kwargs: dict[str, Any] = {"trial_dirname_creator": trial_dirname,
                              "trial_name_creator": lambda trial: f"{spec.name}_{trial.trial_id}",
                              "reuse_actors": reuse}
    if spec.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        class OptunaOnMetricReports(OptunaSearch):
            """TPE that sees only the reports carrying the metric (the critic's come from halfway),
            and whose sample that repeats an earlier one trains with the next seed: TPE over a
            grid's values often proposes a combination again, and the same hyperparameters with
            the same seed would train the same trial again (bit for bit on CPU). Its counts are
            part of the searcher's state, which Ray Tune saves for --resume."""

            def __init__(self, *args, base_seed: int, **kw):
                super().__init__(*args, **kw)
                self.base_seed, self.times_sampled = base_seed, {}

            def on_trial_result(self, trial_id, result):
                if self.metric in result:
                    super().on_trial_result(trial_id, result)

            def suggest(self, trial_id):
                config = super().suggest(trial_id)
                if isinstance(config, dict):
                    values = tuple(sorted(config["hp"].items()))
                    repeats = self.times_sampled.get(values, 0)
                    self.times_sampled[values] = repeats + 1
                    config["hp"]["seed"] = self.base_seed + repeats
                return config

        kwargs.update(search_alg=OptunaOnMetricReports(metric=spec.metric, mode=spec.mode,
                                                       base_seed=spec.trials[0]["seed"]),
                      num_samples=spec.num_samples)
    if spec.scheduler == "asha":
        kwargs["scheduler"] = asha_scheduler(spec, layout.asha_state_path(storage, spec.name))
    return tune.TuneConfig(**kwargs)


def asha_scheduler(spec: SweepSpec, state_file: Path):
    import pickle

    from ray.tune.schedulers import ASHAScheduler

    from trainer.atomic_files import atomic_write

    class ASHAKeptForResume(ASHAScheduler):
        """ASHA whose rungs survive --resume. Ray Tune saves the searcher's state with the
        experiment, not the scheduler's (ray-project/ray#30838): restored from the copy pickled
        when the sweep started, ASHA judged every trial after a resume against only the reports
        made since. Its rungs (and which trial is in which bracket) are written to ``state_file``
        after each report and read back when the restored scheduler sees its first trial."""

        def __init__(self, *args, state_file: Path, **kw):
            super().__init__(*args, **kw)
            self.state_file, self.state_read = Path(state_file), False

        def on_trial_add(self, tune_controller, trial):
            if not self.state_read:
                self.state_read = True
                if self.state_file.is_file():
                    self._brackets, self._trial_info, self._num_stopped = pickle.loads(self.state_file.read_bytes())
            if trial.trial_id not in self._trial_info:
                super().on_trial_add(tune_controller, trial)

        def on_trial_result(self, tune_controller, trial, result):
            action = super().on_trial_result(tune_controller, trial, result)
            if self.judges(result):           # the reports before the critic's change no rung
                self.keep()
            return action

        def on_trial_complete(self, tune_controller, trial, result):
            super().on_trial_complete(tune_controller, trial, result)
            self.keep()

        def judges(self, result) -> bool:
            return self._time_attr in result and self._metric in result

        def on_trial_remove(self, tune_controller, trial):
            super().on_trial_remove(tune_controller, trial)
            self.keep()

        def keep(self) -> None:
            state = pickle.dumps((self._brackets, self._trial_info, self._num_stopped))
            atomic_write(self.state_file, lambda tmp: tmp.write_bytes(state))

    state_file.unlink(missing_ok=True)      # built for a first start only (--resume unpickles tuner.pkl's)
    return ASHAKeptForResume(time_attr=layout.ITERATION, metric=spec.metric, mode=spec.mode, max_t=spec.max_iter,
                             grace_period=max(1, spec.max_iter // 8), state_file=state_file)


def build_tuner(spec: SweepSpec, storage: Path, trainable, settings: TrialSettings, resume: bool,
                verbose: bool = False):
    from ray import tune

    if spec.search == "optuna" and not verbose:    # "A new study created in memory", new or restored
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
    experiment = storage / spec.name
    if resume:
        # param_space again: Ray Tune keeps only placeholders for the objects in it (the trial
        # settings, fused groups) and resolves them from this. Without it, every trial created
        # after the restore (Optuna's next samples; a grid's trials beyond the 200 Ray Tune creates
        # ahead) got the placeholder for its settings and failed on every retry. The spec is the
        # one the sweep started with (preflight.check_same_spec), so the space is unmodified.
        return tune.Tuner.restore(str(experiment), trainable=trainable, resume_unfinished=True,
                                  resume_errored=True, param_space=param_space(spec, settings))
    run_config = tune.RunConfig(
        name=spec.name, storage_path=str(storage), verbose=0,
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=layout.RAY_CHECKPOINTS_KEPT),
        callbacks=[ProgressLines(len(spec.tune_trials) if spec.search == "grid" else spec.num_samples,
                                 total_iterations=spec.total_iterations,
                                 final_evaluation=spec.evaluation.samples > 0), KeepTuneState()])
    return tune.Tuner(trainable, param_space=param_space(spec, settings), tune_config=tune_config(spec, storage),
                      run_config=run_config)
