"""A throw-away PostgreSQL server this process owns: started, restarted and stopped at will.

The fault tests and the soak benchmark restart the server under a running workload
(``pg_ctl restart -m fast``) and kill single connections (``pg_terminate_backend``); they need a
server of their own, never a shared one. Built from the Debian binaries in
``/usr/lib/postgresql/*/bin``, on a free loopback port, in a temporary directory; as root the
server runs as the ``postgres`` user (initdb refuses root), as anyone else as that user.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import sqlalchemy as sa


def pg_bin() -> Path | None:
    """The newest Debian PostgreSQL bin directory, or None when no server binaries are installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One PostgreSQL cluster in a temporary directory on 127.0.0.1:``port``.

    Use as a context manager (or call :meth:`stop`); :attr:`url` is the admin URL of its
    ``postgres`` database.
    """

    def __init__(self, bin_dir: Path | None = None):
        bin_dir = bin_dir or pg_bin()
        if bin_dir is None:
            raise FileNotFoundError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = Path(bin_dir)
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="activeloop-pg-"))
        self.data = self.dir / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self._as_postgres:
            cmd = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(cmd)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _ctl(self, action: str, *extra: str) -> None:
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", *extra, action)

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut, then the server comes back."""
        self._ctl("restart", "-m", "fast")

    def halt(self) -> None:
        """Stop the server (fast) and leave it down until :meth:`start`."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def terminate(self, application_name: str | None = None) -> int:
        """``pg_terminate_backend`` every client connection (of one application name); how many were cut."""
        where = "pid <> pg_backend_pid() AND backend_type = 'client backend'"
        if application_name is not None:
            where += " AND application_name = :app"
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                return len(conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {where}"),
                                        {"app": application_name}).all())
        finally:
            engine.dispose()

    def stop(self) -> None:
        """Stop the server immediately and delete its directory."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass  # already down
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

