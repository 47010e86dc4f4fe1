"""A new sweep's SQLite store is a copy of the empty store MLflow built first (kept in the cache
folder), with the schema MLflow's migrations give and its own default experiment; a kept store
MLflow refuses, or a cache folder that cannot be written, and the store is built as before."""

import sqlite3

from orchestrator.empty_store import empty_store_path
from orchestrator.layout import ARTIFACTS, default_tracking_uri
from orchestrator.tracking import create_sqlite_store


def schema(path) -> set[tuple]:
    """Tables and indexes with their SQL, its lines sorted: MLflow's migrations write a table's
    CHECK constraints in an order that changes from one build to the next."""
    with sqlite3.connect(path) as connection:
        found = {(kind, name, tuple(sorted(line.strip().rstrip(",") for line in (sql or "").splitlines())))
                 for kind, name, sql in connection.execute("SELECT type, name, sql FROM sqlite_master")}
        found |= {("revision", *row) for row in connection.execute("SELECT * FROM alembic_version")}
    connection.close()
    return found


def experiments(path) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        rows = list(connection.execute("SELECT experiment_id, name, artifact_location FROM experiments"))
    connection.close()
    return rows


def make_store(folder):
    create_sqlite_store(default_tracking_uri(folder), folder / ARTIFACTS)
    return folder / "mlflow.db"


def test_a_second_store_is_a_copy_of_the_kept_one_with_its_own_default_experiment(tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHAGAN_CACHE", str(tmp_path / "cache"))
    built = make_store(tmp_path / "first")                    # by MLflow's migrations
    kept = empty_store_path()
    assert kept.is_file() and experiments(kept) == []
    copied = make_store(tmp_path / "second")
    assert schema(copied) == schema(built) == schema(kept)
    for store in (built, copied):
        assert experiments(store) == [(0, "Default", f"{(store.parent / ARTIFACTS).as_uri()}/0")]
    assert sorted(p.name for p in (tmp_path / "second").iterdir()) == ["mlflow.db"]   # no staging file left


def test_a_kept_store_mlflow_refuses_is_built_afresh_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("ALPHAGAN_CACHE", str(tmp_path / "cache"))
    reference = make_store(tmp_path / "reference")
    empty_store_path().write_bytes(b"not a database")
    store = make_store(tmp_path / "store")
    assert schema(store) == schema(reference) and len(experiments(store)) == 1
    assert schema(empty_store_path()) == schema(reference)


def test_a_cache_folder_that_cannot_be_written_only_costs_the_time(tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("a file where the cache folder would go")
    monkeypatch.setenv("ALPHAGAN_CACHE", str(tmp_path / "cache"))
    store = make_store(tmp_path / "store")
    assert {"experiments", "runs", "metrics"} <= {row[1] for row in schema(store)}
    assert len(experiments(store)) == 1
