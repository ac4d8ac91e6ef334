"""A real PostgreSQL server for the tests: Debian's `postgresql` binaries, a fresh cluster in a temporary directory.

`initdb` refuses to run as root (CI runs as root), so as root the cluster belongs to the `postgres` user and every
binary runs through `runuser`. The server listens on a free loopback port, where a password is required
(scram-sha-256, so a test's URL carries a real secret), and on a Unix socket in its directory, where the tests'
administrator connects without one. `fsync=off`: the cluster lives as long as the test session.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.smtp_server import free_port

READER = "reader"
READER_PASSWORD = "pg-Reader-s3cret"
"""The role SQL reports read as: its password must never surface in a job's failure, status, history or log."""


def bin_dir() -> Path:
    """The newest installed PostgreSQL's binaries (`/usr/lib/postgresql/<version>/bin` on Debian)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    return Path(initdb).parent


class PostgresServer:
    """One cluster: `start()`, `admin()` connections, `url()` for the read role, `stop()`."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="conveyor-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        subprocess.run([*prefix, *args], check=True, capture_output=True)

    def start(self) -> None:
        """initdb, then start the server and wait until it accepts connections."""
        if self.as_root:
            shutil.chown(self.dir, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8", "--no-sync",
                  "--auth-local=trust", "--auth-host=scram-sha-256")  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c log_statement=all"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        with self.admin() as db:
            db.execute(f"CREATE ROLE {READER} LOGIN PASSWORD '{READER_PASSWORD}'")

    def stop(self) -> None:
        """Stop the server at once and delete the cluster."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        """A superuser connection over the Unix socket, in autocommit mode."""
        return psycopg.connect(host=str(self.dir), port=self.port, user="postgres", dbname=dbname, autocommit=True)

    def url(self, password: str = READER_PASSWORD) -> str:
        """The SQLAlchemy URL a worker reads with, as the read role over TCP."""
        return f"postgresql+psycopg://{READER}:{password}@127.0.0.1:{self.port}/postgres"

    def statements(self) -> list[str]:
        """The statements the server has run so far, from its log (`log_statement=all`)."""
        return [m[1] for m in re.finditer(r"LOG:  (?:statement|execute [^:]*): (.*)", self.log.read_text())]
