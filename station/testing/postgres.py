"""A real PostgreSQL server in a temporary directory, on a free loopback port.

Debian's ``postgresql`` package: ``initdb`` into a fresh data directory and ``postgres`` run
on 127.0.0.1 only, as the ``postgres`` system user when this process is root (the server
refuses to run as root), stopped and deleted by :meth:`PostgresServer.close`. Trust
authentication on loopback: a throwaway server for tests and benchmarks, never a deployment.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from station.testing.ports import free_port


class PostgresUnavailable(RuntimeError):
    pass


def postgres_bindir() -> Path | None:
    """The newest installed server's bin directory (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="station-postgres-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._as: list[str] = []
        self._created: set[str] = set()

    def _run_as(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresUnavailable("running as root and runuser (util-linux) is missing")
        shutil.chown(self.dir, "postgres", "postgres")
        return [runuser, "-u", "postgres", "--"]

    def start(self, timeout_s: float = 30.0) -> None:
        if self.bindir is None:
            raise PostgresUnavailable("PostgreSQL server binaries not found (apt install "
                                      "postgresql)")
        self._as = self._run_as()
        data = self.dir / "data"
        subprocess.run([*self._as, str(self.bindir / "initdb"), "-D", str(data), "-U",
                        "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                        "--no-instructions"], check=True, capture_output=True)
        self.port = free_port()
        # fsync stays on: the tests kill workers mid-batch and count what was committed.
        with open(self.dir / "server.log", "wb") as server_log:  # the child keeps its copy
            self.proc = subprocess.Popen(
                [*self._as, str(self.bindir / "postgres"), "-D", str(data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c",
                 f"unix_socket_directories={self.dir}", "-c", "max_connections=200", "-c",
                 "shared_buffers=32MB"],
                stdout=subprocess.DEVNULL, stderr=server_log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PostgresUnavailable("postgres exited: "
                                          + (self.dir / "server.log").read_text()[-500:])
            ok = subprocess.run([str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p",
                                 str(self.port), "-U", "postgres"], capture_output=True)
            if ok.returncode == 0:
                return
            time.sleep(0.1)
        raise PostgresUnavailable("postgres did not become ready in time")

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh, empty database (for a test of its own); returns its DSN."""
        import psycopg  # the backend extra; only tests that use PostgreSQL need it

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: PostgreSQL's "smart" shutdown
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
