"""A sweep's run artifacts, read and written where they are now.

MLflow keeps each run's artifact location as an absolute URI. A sweep's own SQLite store keeps
its artifacts beside it, as ``file://`` URIs of the folder it was made in, so a store copied or
moved to another folder (results rsynced from a cluster to a laptop) names a folder that is
gone there, or is the cluster's. Where the store's experiment names a local folder that does not
exist and a folder of that name lies beside the store now, this reads and writes there instead.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit


def local_path(uri: str) -> Path | None:
    """The folder of a ``file://`` URI (None for any other scheme)."""
    parts = urlsplit(uri)
    return Path(unquote(parts.path)) if parts.scheme == "file" else None


def moved_root(store: Path | None, artifact_location: str) -> tuple[str, str] | None:
    """(the URI the experiment names, the same folder beside the store now) for a SQLite store
    (``store``: its file; None for any other store) whose experiment's local artifact folder is
    gone while one of its name lies beside the store; None where nothing moved."""
    if store is None:
        return None
    named = local_path(artifact_location)
    if named is None or named.exists():
        return None
    here = store.parent / named.name
    return (artifact_location.rstrip("/"), here.resolve().as_uri()) if here.is_dir() else None


class RunArtifacts:
    """A sweep's runs' artifacts through its store's client, with ``moved`` (from ``moved_root``)
    applied to every run's artifact URI."""

    def __init__(self, client, moved: tuple[str, str] | None = None):
        self.client, self.moved = client, moved

    def root(self, run_id: str) -> str:
        uri = self.client.get_run(run_id).info.artifact_uri.rstrip("/")
        if self.moved is not None and uri.startswith(self.moved[0] + "/"):
            uri = self.moved[1] + uri[len(self.moved[0]):]
        return uri

    def list(self, run_id: str, folder: str) -> list[str]:
        """The artifact paths (``folder/name``) of the files in a run's artifact ``folder``."""
        if self.moved is None:
            return [a.path for a in self.client.list_artifacts(run_id, folder) if not a.is_dir]
        from mlflow.artifacts import list_artifacts

        return [f"{folder}/{Path(a.path).name}" for a in list_artifacts(artifact_uri=f"{self.root(run_id)}/{folder}")
                if not a.is_dir]

    def download(self, run_id: str, path: str, folder: Path) -> Path:
        """A run's artifact ``path`` as a local file (copied into ``folder`` where it is remote)."""
        if self.moved is None:
            return Path(self.client.download_artifacts(run_id, path, str(folder)))
        from mlflow.artifacts import download_artifacts

        return Path(download_artifacts(artifact_uri=f"{self.root(run_id)}/{path}", dst_path=str(folder)))

    def log(self, run_id: str, file: Path, folder: str) -> None:
        if self.moved is None:
            self.client.log_artifact(run_id, str(file), folder)
            return
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        get_artifact_repository(self.root(run_id)).log_artifact(str(file), folder)
