"""The Ray Tune callback that keeps a whole copy of each save of Ray Tune's experiment state, for
``--resume`` (tune_state_copy says why)."""

from __future__ import annotations

import sys
from pathlib import Path

from ray.tune import Callback

from . import layout
from .tune_state_copy import keep_copy
from .writable import disk_full


class KeepTuneState(Callback):
    """Copies each save of Ray Tune's experiment state into the sweep's kept copy. Ray Tune asks
    every callback for its state (``get_state``) as the last step of each save, once the save's
    files are whole in the driver's staging folder; this callback has none of its own (None). The
    paths come from the trials' storage, which Ray Tune points at the storage a resumed sweep
    runs in."""

    def __init__(self) -> None:
        self.storage = None                      # a trial's StorageContext, once there is a trial
        self.warned = False

    def on_step_begin(self, iteration, trials, **info):
        if trials:
            self.storage = trials[0].storage

    def get_state(self):
        if self.storage is not None:
            experiment = Path(self.storage.storage_fs_path, self.storage.experiment_dir_name)
            copy = layout.tune_state_copy_path(experiment.parent, experiment.name)
            try:
                keep_copy(Path(self.storage.experiment_driver_staging_path), experiment, copy)
            except OSError as err:               # the copy before stays; a full disk is said by the trials
                if disk_full(err) is None and not self.warned:
                    self.warned = True
                    print(f"warning: could not keep a copy of Ray Tune's experiment state in {copy} "
                          f"({type(err).__name__}: {err}); --resume reads Ray Tune's own", file=sys.stderr, flush=True)
        return None
