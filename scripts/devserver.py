#!/usr/bin/env python3
"""Development runner for `make run`: the web app, a Celery worker and Celery beat in one
terminal.

- Each child runs in its own process group, so the whole of it (runserver's autoreloader
  child, the worker's pool processes) is stopped together.
- Ctrl-C, SIGTERM or SIGHUP stops everything the way a terminal's Ctrl-C would: SIGINT to
  each group (warm shutdown for Celery), then SIGTERM, then SIGKILL after grace periods.
- If any one of the three exits, the others are stopped and the runner exits non-zero: a dev
  stack whose worker or beat died quietly would stop sweeping breaches and look fine.

The broker folders (kombu's filesystem transport) and the beat schedule file live under
VAR_DIR, read from config.settings so there is one source of truth.
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
SHUTDOWN_STEPS = ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0))


def prepare_dirs() -> Path:
    """Create VAR_DIR and, for the filesystem broker, its queue and processed folders."""
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    var_dir = Path(settings.VAR_DIR)
    var_dir.mkdir(parents=True, exist_ok=True)
    if str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        for key in ("data_folder_in", "data_folder_out", "processed_folder"):
            if options.get(key):
                Path(options[key]).mkdir(parents=True, exist_ok=True)
    return var_dir


def commands(addr: str, var_dir: Path, concurrency: int) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "web": [python, "manage.py", "runserver", addr],
        "worker": [python, "-m", "celery", "-A", "config", "worker", "-l", "info", "--concurrency", str(concurrency)],
        "beat": [
            python,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "-l",
            "info",
            "--schedule",
            str(var_dir / "celerybeat-schedule"),
        ],
    }


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all(procs: dict[str, subprocess.Popen]) -> None:
    for sig, grace in SHUTDOWN_STEPS:
        alive = [proc for proc in procs.values() if proc.poll() is None]
        if not alive:
            return
        for proc in alive:
            signal_group(proc, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(proc.poll() is None for proc in alive):
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
        print(f"devserver: got {signal.Signals(requested[0]).name}; stopping", flush=True)

    stop_all(procs)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
