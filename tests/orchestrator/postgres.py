"""A throw-away PostgreSQL server for the MLflow tracking server of the cluster tests: database and
user `mlflow` with a password (scram-sha-256 over TCP on 127.0.0.1, trust on its socket), all of it
under one folder. PostgreSQL refuses to run as root: where the tests run as root, ``as_postgres``
turns a command into one run as the `postgres` user (and, for a network namespace, inside it)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

AsPostgres = Callable[[list[str]], list[str]]


def postgres_bin() -> Path | None:
    """Folder of PostgreSQL's server programs (Debian: /usr/lib/postgresql/<v>/bin), or None."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def start_postgres(root: Path, port: int, password: str, as_postgres: AsPostgres) -> None:
    """initdb in root/pgdata, start the server on 127.0.0.1:port (socket in root/pgsock, log in
    root/postgres.log) and create the `mlflow` database."""
    pg_bin = postgres_bin()
    data, sockets, pwfile, log = (root / name for name in ("pgdata", "pgsock", "pgpass", "postgres.log"))
    sockets.mkdir()
    data.mkdir()
    pwfile.write_text(password + "\n")
    log.touch()
    if os.geteuid() == 0:
        for path in (sockets, data, pwfile, log):
            shutil.chown(path, "postgres")
    for command in ([str(pg_bin / "initdb"), "-D", str(data), "-U", "mlflow", "--pwfile", str(pwfile),
                     "--auth-host=scram-sha-256", "--auth-local=trust"],
                    [str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                     "-o", f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1", "start"],
                    [str(pg_bin / "createdb"), "-h", str(sockets), "-p", str(port), "-U", "mlflow", "mlflow"]):
        subprocess.run(as_postgres(command), check=True, capture_output=True, timeout=120)


def stop_postgres(root: Path, as_postgres: AsPostgres) -> None:
    """Stop the server started by start_postgres (at once: the tests keep nothing), if it runs."""
    data = root / "pgdata"
    if (data / "postmaster.pid").exists():
        subprocess.run(as_postgres([str(postgres_bin() / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, timeout=60)
