#!/usr/bin/env python3
"""Development runner for `make run`: the web app, a Celery worker and Celery beat in one
terminal.

- Each child runs in its own process group, so the whole of it (runserver's autoreloader
  child, the worker's pool processes) is stopped together.
- Ctrl-C, SIGTERM or SIGHUP stops everything the way a terminal's Ctrl-C would: SIGINT to
  each group (warm shutdown for Celery: running tasks finish). After a grace period, or at a second Ctrl-C, comes a
  cold stop (SIGQUIT to the worker, Celery's cold shutdown; SIGTERM to the others), then
  SIGKILL.
- If any one of the three exits, the others are stopped and the runner exits non-zero: a dev
  stack whose worker or beat died quietly would stop sweeping breaches and look fine.

The beat schedule file lives under VAR_DIR, read from config.settings so there is one
source of truth. Loading the settings starts the embedded PostgreSQL and Redis where
DATABASE_URL / REDIS_URL are unset; the children are given the URLs found.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
WARM_GRACE, COLD_GRACE, KILL_GRACE = 20.0, 5.0, 2.0
# Cold stop per process: Celery's worker treats SIGTERM like SIGINT (warm); SIGQUIT is its
# cold shutdown, sent to the main process only, which then ends its pool. runserver's
# autoreloader parent must take its child with it, so web gets SIGTERM on the whole group.
COLD_STOP = {"web": (signal.SIGTERM, True), "worker": (signal.SIGQUIT, False), "beat": (signal.SIGTERM, True)}


def prepare_dirs() -> Path:
    """Create VAR_DIR and STATIC_ROOT; pass the database and broker on to the children."""
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    var_dir = Path(settings.VAR_DIR)
    var_dir.mkdir(parents=True, exist_ok=True)
    # WhiteNoise warns at every start while STATIC_ROOT does not exist.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = settings.DATABASE_URL
    os.environ["REDIS_URL"] = settings.REDIS_URL
    return var_dir


def commands(addr: str, var_dir: Path, concurrency: int) -> dict[str, list[str]]:
    python = sys.executable
    celery = [python, "-m", "celery", "-A", "config"]
    return {
        "web": [python, "manage.py", "runserver", addr],
        "worker": [*celery, "worker", "-l", "info", "--concurrency", str(concurrency)],
        "beat": [*celery, "beat", "-l", "info", "--schedule", str(var_dir / "celerybeat-schedule")],
    }


def send(proc: subprocess.Popen, sig: int, *, group: bool = True) -> None:
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all(procs: dict[str, subprocess.Popen], requested: list[int]) -> None:
    """Warm, cold, then kill; a new Ctrl-C/TERM cuts the current step's wait short."""
    steps = (
        ("warm", WARM_GRACE, lambda name: (signal.SIGINT, True)),
        ("cold", COLD_GRACE, lambda name: COLD_STOP[name]),
        ("kill", KILL_GRACE, lambda name: (signal.SIGKILL, True)),
    )
    for label, grace, how in steps:
        alive = {name: proc for name, proc in procs.items() if proc.poll() is None}
        if not alive:
            return
        print(f"devserver: {label} stop of {', '.join(alive)}", flush=True)
        for name, proc in alive.items():
            sig, group = how(name)
            send(proc, sig, group=group)
        seen = len(requested)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and len(requested) == seen:
            if all(proc.poll() is not None for proc in alive.values()):
                return
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:8000", help="runserver address (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default %(default)s)")
    args = parser.parse_args(argv)

    os.chdir(BASE_DIR)
    var_dir = prepare_dirs()

    requested: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        requested.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs: dict[str, subprocess.Popen] = {}
    for name, cmd in commands(args.addr, var_dir, args.concurrency).items():
        print(f"devserver: starting {name}: {' '.join(cmd)}", flush=True)
        procs[name] = subprocess.Popen(cmd, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    print(f"devserver: web app on http://{args.addr}/ - Ctrl-C stops all three", flush=True)

    exit_code = 0
    while not requested:
        dead = [(name, proc.returncode) for name, proc in procs.items() if proc.poll() is not None]
        if dead:
            for name, code in dead:
                print(f"devserver: {name} exited with code {code}; stopping the others", file=sys.stderr, flush=True)
            exit_code = 1
            break
        time.sleep(0.2)
    else:
        print(f"devserver: got {signal.Signals(requested[0]).name}; stopping (Ctrl-C again to hurry)", flush=True)

    stop_all(procs, requested)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
