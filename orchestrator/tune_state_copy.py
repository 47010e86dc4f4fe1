"""A copy of Ray Tune's experiment state that ``--resume`` can trust.

Ray Tune (2.60) saves its experiment state (``experiment_state-<session>.json``, the searcher's
``basic-variant-state-<session>.json`` or ``searcher-state-<session>.pkl``) into a staging folder
on the driver's node, then copies it into the experiment folder in the storage, in place. A disk
that fills during that copy leaves the files in the storage cut short; ``Tuner.restore`` then logs
"Failed to restore the run state", "Restarting experiment", and starts every trial afresh: new
trial ids, new MLflow runs, the hours before out of sight. So:

- :func:`keep_copy` (run by tune_state_keeper's callback after each save) copies the save from the
  staging folder (whole: Ray Tune has just written it there) into ``<storage>/<name>.tune-state.zip``,
  atomically: a full disk leaves the copy before it as it was;
- before ``--resume`` starts anything, :func:`check_resumable` reads the files Ray Tune will read
  back, and where one is cut short, a whole save must stand in: Ray Tune's staging folder, where
  the driver runs on the node that ran it before (on the node's own disk, it is the newest whole
  save), else the kept copy; else one line says so;
- under the driver lock, :func:`replace_cut_short_state` moves the experiment folder's state files aside
  (``unreadable-state-<time>/``) and puts that save in their place;
- :func:`no_fresh_start` turns Ray Tune's "Restarting experiment" on ``--resume`` into an error.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickletools
import re
import tempfile
import time
import zipfile
from pathlib import Path

from trainer.atomic_files import atomic_write

from . import layout
from .errors import ResumeRefused, UsageError

EXPERIMENT_STATE = "experiment_state-"          # + Ray Tune's session (a time) + ".json"
TUNER_PKL = "tuner.pkl"                         # written once, when the sweep started
STATE_SUFFIXES = (".json", ".pkl")              # what Ray Tune reads back from the folder's top level
CONTROLLER_LOGGER = "ray.tune.execution.tune_controller"
RESTORE_FAILED = "Failed to restore the run state"
SESSION = re.compile(r"-(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)\.(?:json|pkl)$")   # <kind>-<session>.<ext>
PICKLE = b"\x80"                                # how a pickle of protocol 2 or later starts


def why_unreadable(data: bytes) -> str | None:
    """Why a state file cannot be read back, or None. A pickle (Ray Tune pickles its searcher's
    state, even into a ``.json``) has its opcodes read through to its STOP, without running any of
    it; anything else is parsed as JSON."""
    try:
        if data.startswith(PICKLE):
            for _ in pickletools.genops(data):
                pass
        else:
            json.loads(data)
    except ValueError as err:                    # json.JSONDecodeError, UnicodeDecodeError, a pickle cut short
        return f"{type(err).__name__}: {' '.join(str(err).split())[:120]}"
    return None


def holds_experiment_state(names) -> bool:
    return any(name.startswith(EXPERIMENT_STATE) for name in names)


def save_trouble(files: dict[str, bytes], where: str) -> str | None:
    """Why a save (file name -> content) is not whole, or None: no experiment state, or a file
    that does not read back."""
    if not holds_experiment_state(files):
        return f"{where} holds no experiment state"
    for name, data in files.items():
        if why := why_unreadable(data):
            return f"{where}: {name}: {why}"
    return None


def state_files(folder: Path) -> list[Path]:
    """The state files at the top level of ``folder`` (an experiment folder or its staging folder)."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.suffix in STATE_SUFFIXES and path.is_file())


def read_back(folder: Path) -> list[Path]:
    """The files Ray Tune reads back to resume: the newest experiment state, the files of its
    session (the searcher's, the callbacks'), and ``tuner.pkl``."""
    files = state_files(folder)
    states = [path for path in files if path.name.startswith(EXPERIMENT_STATE) and path.suffix == ".json"]
    session = max(states).name.removeprefix(EXPERIMENT_STATE).removesuffix(".json") if states else None
    return [path for path in files if path.name == TUNER_PKL or (session is not None and session in path.name)]


def sessions(folder: Path) -> list[str]:
    """The sessions (Ray Tune's start times) that ``folder``'s state files name, oldest first."""
    return sorted({match[1] for path in state_files(folder) if (match := SESSION.search(path.name))})


def cut_short(experiment: Path) -> dict[str, str]:
    """The files of ``experiment`` that Ray Tune would fail to read back: name -> why ("missing":
    a session's files without the experiment state Ray Tune reads first)."""
    files, named = read_back(experiment), sessions(experiment)
    broken = {path.name: why for path in files if (why := why_unreadable(path.read_bytes()))}
    if named and not holds_experiment_state(path.name for path in files):
        broken[f"{EXPERIMENT_STATE}{named[-1]}.json"] = "missing"
    return broken


def trouble_with(files: dict[str, bytes], where: str, experiment: Path) -> str | None:
    """Why a save (file name -> content) cannot stand in for ``experiment``'s, or None."""
    if trouble := save_trouble(files, where):
        return trouble
    tuner = experiment / TUNER_PKL
    if TUNER_PKL not in files and (not tuner.is_file() or why_unreadable(tuner.read_bytes())):
        return f"{where} holds no {TUNER_PKL}"
    trials = trial_ids(files[max(name for name in files if name.startswith(EXPERIMENT_STATE))])
    if trials and not any((experiment / layout.trial_folder_name(trial)).is_dir() for trial in trials):
        return f"{where} is of another sweep (none of its trials has a folder in {experiment})"
    return None


def trial_ids(experiment_state: bytes) -> list[str]:
    """The trials a save of Ray Tune's experiment state holds (each as Ray Tune's JSON of it)."""
    try:
        return [json.loads(trial)["trial_id"] for trial, _ in json.loads(experiment_state)["trial_data"]]
    except (ValueError, KeyError, TypeError):
        return []


def ray_temp_root() -> Path:
    """Where Ray keeps its sessions' folders on this node, as Ray finds it ($RAY_TMPDIR, else the
    system's temporary folder)."""
    return Path(os.environ.get("RAY_TMPDIR") or tempfile.gettempdir()) / "ray"


def staging_folder(experiment: Path) -> Path | None:
    """Ray Tune's own staging folder of the sweep on this node (written in place on the node's
    disk, before each copy into the storage) that holds the newest session the storage names;
    None where this node has none (another node ran the driver; a restart cleared it)."""
    for session in reversed(sessions(experiment)):
        pattern = f"session_*/artifacts/*/{experiment.name}/driver_artifacts/{EXPERIMENT_STATE}{session}.json"
        found = sorted(ray_temp_root().glob(pattern), key=lambda path: path.stat().st_mtime)
        if found:
            return found[-1].parent
    return None


def saved_at(path: Path) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime))


def stand_in(storage: Path, name: str) -> tuple[dict[str, bytes] | None, str]:
    """A whole save to resume from where the storage's is cut short: Ray Tune's staging copy on
    this node (the newest whole save there is), else the sweep's kept copy. Returns (its files,
    where it is in words), or (None, why neither stands in)."""
    experiment = storage / name
    troubles = []
    staging = staging_folder(experiment)
    if staging is None:
        troubles.append("no staging copy of Ray Tune's on this node")
    else:
        found = read_back(staging)
        files = {path.name: path.read_bytes() for path in found}
        if (trouble := trouble_with(files, str(staging), experiment)) is None:
            newest = max(found, key=lambda path: path.stat().st_mtime)
            return files, f"Ray Tune's staging copy on this node, saved at {saved_at(newest)} ({staging})"
        troubles.append(trouble)
    copy = layout.tune_state_copy_path(storage, name)
    try:
        with zipfile.ZipFile(copy) as kept:
            files = {member: kept.read(member) for member in kept.namelist()}
    except FileNotFoundError:
        troubles.append(f"{copy} is missing")
    except (OSError, zipfile.BadZipFile) as err:
        troubles.append(f"{copy} is unreadable ({type(err).__name__}: {err})")
    else:
        if (trouble := trouble_with(files, str(copy), experiment)) is None:
            return files, f"the copy kept at {saved_at(copy)} ({copy})"
        troubles.append(trouble)
    return None, "; ".join(troubles)


def keep_copy(staging: Path, experiment: Path, copy: Path) -> bool:
    """Ray Tune's latest save in ``staging`` (and ``tuner.pkl`` from ``experiment``) written whole
    to ``copy``, or nothing written (False): a file unreadable, or the write failed."""
    files = read_back(staging)
    tuner = experiment / TUNER_PKL
    if TUNER_PKL not in {path.name for path in files} and tuner.is_file():
        files.append(tuner)
    contents = {path.name: path.read_bytes() for path in files}
    if save_trouble(contents, str(staging)) is not None:
        return False

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as kept:
            for name, data in contents.items():
                kept.writestr(name, data)

    atomic_write(copy, write)
    return True


def first(broken: dict[str, str]) -> str:
    name, why = next(iter(broken.items()))
    more = f", and {len(broken) - 1} more" if len(broken) > 1 else ""
    return f"{name}: {why}{more}"


def check_resumable(storage: Path, name: str) -> None:
    """Before anything starts: the state Ray Tune will read back is whole, or a whole save stands in."""
    experiment = storage / name
    broken = cut_short(experiment)
    if not broken:
        return
    files, trouble = stand_in(storage, name)
    if files is not None:
        return
    raise UsageError(
        f"--resume: Ray Tune's state of sweep {name!r} in {experiment} is cut short ({first(broken)}; was its disk "
        f"full?) and no whole copy of it is left ({trouble}), so Ray Tune would start every "
        f"trial afresh: to do that, move {experiment} aside and run the sweep without --resume")


def replace_cut_short_state(storage: Path, name: str) -> str | None:
    """Under the driver lock: where Ray Tune's state is cut short, its state files are moved aside
    and a whole save is put in their place. Returns the line that says so, or None."""
    experiment = storage / name
    broken = cut_short(experiment)
    files, where = stand_in(storage, name) if broken else (None, "")
    if files is None:
        return None
    aside = experiment / f"{layout.UNREADABLE_STATE}{time.strftime('%Y%m%d-%H%M%S')}"
    aside.mkdir(parents=True, exist_ok=True)
    for path in state_files(experiment):             # all but a whole tuner.pkl (written once, at the start)
        if path.name != TUNER_PKL or path.name in broken:
            path.rename(aside / path.name)
    for file_name, data in files.items():
        if not (experiment / file_name).exists():
            atomic_write(experiment / file_name, lambda tmp, data=data: tmp.write_bytes(data))
    return (f"sweep {name}: Ray Tune's state in {experiment} was cut short ({first(broken)}); resuming from "
            f"{where}; the files it replaced are in {aside}")


def has_saved(storage: Path, name: str) -> bool:
    """Whether Ray Tune has saved an experiment state of the sweep: then a restore must not fail."""
    return holds_experiment_state(path.name for path in state_files(storage / name))


@contextlib.contextmanager
def no_fresh_start(experiment: Path):
    """Inside, Ray Tune failing to restore a sweep's saved state raises ResumeRefused (from its
    "Failed to restore the run state" log line, which Ray Tune writes before it starts the trials
    afresh) instead of going on."""
    logger = logging.getLogger(CONTROLLER_LOGGER)

    def refuse(record: logging.LogRecord) -> bool:
        if record.getMessage().startswith(RESTORE_FAILED):
            err = record.exc_info[1] if record.exc_info else None
            raise ResumeRefused(
                f"--resume: Ray Tune could not read back the sweep's state in {experiment} ({type(err).__name__}: "
                f"{' '.join(str(err).split())[:200]}) and would have started every trial afresh, so it started "
                f"none; to start the sweep afresh, move {experiment} aside and run it without --resume") from err
        return True

    logger.addFilter(refuse)
    try:
        yield
    finally:
        logger.removeFilter(refuse)
