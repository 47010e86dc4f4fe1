"""Everything a sweep needs that the driver can check, checked before Ray starts and before any
MLflow run exists: the storage (writable), every dataset the trials read, the storage's room for
the checkpoints, ``--resume`` against what the sweep started with, and the tracking store. A failure is
one line (a SpecError or UsageError naming what is wrong and what to do) and leaves nothing
behind."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from trainer.data import DatasetError, check_batch_size, split_sizes

from . import layout
from .errors import CREDENTIALS_HINT, SpecError, UsageError
from .spec_changes import describe, spec_changes
from .spec_yaml import read_yaml
from .storage_need import check_storage_room
from .sweep_spec import SweepSpec
from .sweep_state import SweepState, started_in
from .tracking import check_store_version
from .tune_state_copy import check_resumable
from .writable import check_writable_folder

CONNECT_TIMEOUT_S = 5.0
DEFAULT_PORTS = {"http": 80, "https": 443, "postgresql": 5432, "postgres": 5432, "mysql": 3306,
                 "mssql": 1433}
CRITIC_BATCH = 64                      # the independent critic's batch from the validation split


@dataclass(frozen=True)
class Checked:
    """What the checks found: the tracking URI to use (with its password, if any), the data root,
    the spec's fingerprint and content as read, and the state of a sweep being resumed."""

    tracking_uri: str
    data_root: str | None
    spec_sha256: str
    spec_content: dict
    state: SweepState | None


def preflight(spec: SweepSpec, storage: Path, *, tracking_uri: str | None, resume: bool,
              data_root: str | None) -> Checked:
    check_restorable(spec, storage, resume)
    check_writable_folder(storage, "--storage")
    root = data_root if data_root is not None else spec.data_root
    if root is not None:
        root = str(Path(root).expanduser().resolve())     # ~ and a relative path as the driver reads them
    check_datasets(spec, root)                            # first: a user without the data can do nothing else
    if not resume:
        check_storage_room(spec, storage)
    content = spec_content(spec)
    fingerprint = spec_sha256(content)
    state = SweepState.load(storage, spec.name) if resume else None
    if state is not None:
        check_same_spec(spec, state, fingerprint, content)
        check_same_storage(spec, storage, state)
    uri = resolve_tracking_uri(spec, storage, tracking_uri, state)
    check_tracking(uri)
    return Checked(uri, root, fingerprint, content, state)


def has_started(spec: SweepSpec, storage: Path) -> bool:
    """Whether ``storage`` holds Ray Tune's state of the sweep, to resume."""
    from ray import tune

    return tune.Tuner.can_restore(str(storage / spec.name))


def check_restorable(spec: SweepSpec, storage: Path, resume: bool) -> None:
    restorable = has_started(spec, storage)
    if restorable and not resume:
        raise UsageError(f"{storage / spec.name} already holds sweep {spec.name!r}: add --resume to continue "
                         "it, or pass another --storage to start afresh")
    if resume and not restorable:
        held = sorted(path.name.removesuffix(layout.STATE_SUFFIX) for path in storage.glob(f"*{layout.STATE_SUFFIX}"))
        holds = f" (it holds {', '.join(held)})" if held else ""
        raise UsageError(f"nothing to resume: no sweep {spec.name!r} in {storage}{holds}; pass the --storage it ran "
                         "with, or run it without --resume")
    if resume:
        check_resumable(storage, spec.name)


def spec_content(spec: SweepSpec) -> dict:
    """What --resume compares: the spec as read, its description left out, so a comment, a reworded
    description or another layout of the same YAML resumes (as JSON holds it in the state file)."""
    content = {key: value for key, value in read_yaml(spec.path).items() if key != "description"}
    return json.loads(json.dumps(content, default=repr))


def spec_sha256(content: dict) -> str:
    """The fingerprint of a spec's content, key order included (state files before 2026-12-07 hold
    only this)."""
    return hashlib.sha256(json.dumps(content, default=repr).encode()).hexdigest()


def check_same_spec(spec: SweepSpec, state: SweepState, fingerprint: str, content: dict) -> None:
    """The spec of a resumed sweep holds the values it started with (spec_changes.py: the grid's
    key order counts, other key orders and a number's spelling do not); a refusal names what
    changed, where the state file holds the spec the sweep started with."""
    file_sha256 = hashlib.sha256(spec.path.read_bytes()).hexdigest()    # what states before 2026-12-06 hold
    if state.spec_sha256 is None or state.spec_sha256 in (fingerprint, file_sha256):
        return
    if state.spec is None:                     # a state file before 2026-12-07: only its fingerprint
        what = ""
    else:
        changes = spec_changes(state.spec, content)
        if not changes:
            return
        what = f": {describe(changes)}"
    raise UsageError(f"--resume: {spec.path} has changed since sweep {spec.name!r} started{what}; resume it "
                     "with the spec it started with (its copy is the artifact spec/ of the sweep's MLflow "
                     "run), or start the changed spec with another --storage")


def check_same_storage(spec: SweepSpec, storage: Path, state: SweepState) -> None:
    """A sweep resumes in the folder it started in: Ray Tune's state, the trials' settings and
    checkpoints, and the MLflow store's artifact locations name that folder's path, so a moved
    storage resumed in place would write to (and recreate) the old path. The same folder under
    another path (a link, another mount of it) is fine."""
    started = started_in(storage, state)
    if started is None:
        return
    try:
        same = os.path.samefile(started, storage)
    except OSError:                            # the old path is gone
        same = False
    if not same:
        raise UsageError(f"--resume: sweep {spec.name!r} started in {started}, not {storage}: its Ray Tune state, "
                         f"checkpoints and MLflow artifact locations name that path; resume it there (move the "
                         f"folder back, or link the old path to it: ln -s {storage} {started})")


def resolve_tracking_uri(spec: SweepSpec, storage: Path, given: str | None, state: SweepState | None) -> str:
    """--tracking-uri, else (resume) the store the sweep records to, else the storage's SQLite
    store. A resumed sweep keeps its store; its password, never written down, comes from
    --tracking-uri or MLFLOW_TRACKING_URI."""
    if state is None:
        return given or layout.default_tracking_uri(storage)
    recorded = state.tracking_uri
    if given is not None:
        if layout.redact_uri(given) != recorded:
            raise UsageError(f"--resume: sweep {spec.name!r} records to {recorded}, not {layout.redact_uri(given)}; "
                             "resume it without --tracking-uri, or with the one it started with")
        return given
    if ":***@" not in recorded:
        return recorded
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    if from_env and layout.redact_uri(from_env) == recorded:
        return from_env
    raise UsageError(f"--resume: sweep {spec.name!r} records to {recorded}, whose password is not stored; "
                     "pass the full URI with --tracking-uri or MLFLOW_TRACKING_URI")


def check_tracking(uri: str) -> None:
    """A tracking server or database answers within seconds; a SQLite store's folder is writable;
    a database store is of this MLflow's schema."""
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+")[0]
    if scheme == "sqlite" or scheme == "file" or not parts.scheme:
        check_store_version(uri)                # a local store: the storage check covers its folder
        return
    shown = layout.redact_uri(uri)
    port = parts.port or DEFAULT_PORTS.get(scheme)
    if not parts.hostname or port is None:
        raise UsageError(f"--tracking-uri {shown}: expected a server (http://HOST:PORT) or a database URI "
                         "(postgresql://USER@HOST/DB)")
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise UsageError(f"cannot reach the tracking store {shown} ({parts.hostname}:{port}: "
                         f"{err.strerror or type(err).__name__}); start it, or pass another --tracking-uri") from None
    if scheme in ("http", "https"):
        _check_http(uri, shown)
    check_store_version(uri)


def _check_http(uri: str, shown: str) -> None:
    """The server answers, and lets this user in (MLflow's basic auth reads the user and password
    from MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, as the MLflow client does)."""
    request = urllib.request.Request(uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1")
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT_S).close()
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise UsageError(f"the tracking server {shown} refused the request (HTTP {err.code}: no or wrong "
                             f"credentials); {CREDENTIALS_HINT}") from None
        raise UsageError(f"the tracking server {shown} answered HTTP {err.code} to an experiments search; is it an "
                         "MLflow server?") from None
    except (urllib.error.URLError, OSError) as err:
        raise UsageError(f"cannot reach the tracking server {shown} ({getattr(err, 'reason', err)}); start it, "
                         "or pass another --tracking-uri") from None


def check_datasets(spec: SweepSpec, data_root: str | None) -> None:
    """Every dataset the trials read is there and complete, and holds a batch for each trial
    (training split) and for its independent critic (validation split)."""
    datasets: dict[str, dict[str, int]] = {}
    for hp in spec.trials:
        name = hp["dataset"]
        if name not in datasets:
            try:
                datasets[name] = split_sizes(name, data_root)
            except DatasetError as err:
                raise SpecError(f"{spec.path}: {err}") from None
        sizes = datasets[name]
        try:
            check_batch_size(name, hp["batch_size"], sizes["train"])
        except DatasetError as err:
            raise SpecError(f"{spec.path}: {err}") from None
        if spec.independent_critic.enabled and sizes["val"] < CRITIC_BATCH:
            raise SpecError(f"{spec.path}: {name}'s validation split has {sizes['val']} images, fewer than the "
                            f"independent critic's batch of {CRITIC_BATCH}; disable the critic or use more data")
