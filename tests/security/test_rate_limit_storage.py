"""Rate limits shared by every worker: a production start that would count them per worker says so loudly.

The attack: with two workers and no REDIS_URL, each worker counted logins on its own, and 20
of 10 allowed logins got through. gunicorn.conf.py knows the worker count and warns at start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from petitions.infra.tlog import note

ROOT = Path(__file__).resolve().parent.parent.parent
WARNING = "REDIS_URL is not set: each of the 2 workers counts rate limits on its own"


def start_log(tmp_path: Path, *args: str, **env: str) -> str:
    """What gunicorn (the shipped gunicorn.conf.py) logs until it listens; then it is stopped."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "APP_ENV", "FLASK_ENV", "WEB_CONCURRENCY", "GUNICORN_BIND", "GUNICORN_CONTROL_SOCKET")
    }
    base.update(
        SECRET_KEY="test-secret",
        LOG_SIGNING_KEY=str(note.generate_key("localhost")),  # production needs one, like SECRET_KEY
        DATABASE_URL=f"sqlite:///{tmp_path}/x.sqlite",
        GUNICORN_ACCESS_LOG="",
        **env,
    )
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "app:app",
            "-c",
            "gunicorn.conf.py",
            "--bind",
            "127.0.0.1:0",
            *args,
        ],
        cwd=ROOT,
        env=base,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    listening = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "Listening at" in line:
                listening.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert listening.wait(30), "gunicorn did not start:\n" + "".join(lines)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        assert process.stderr is not None
        process.stderr.close()
    return "".join(lines)


def test_a_production_start_with_two_workers_and_no_redis_warns_at_start(tmp_path) -> None:
    log = start_log(tmp_path, "--workers", "2", APP_ENV="production")
    assert WARNING in log
    (line,) = [line for line in log.splitlines() if WARNING in line]
    assert "[WARNING]" in line and "lets 2 times as many requests through" in line and "Set REDIS_URL" in line


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--workers", "1"), {"APP_ENV": "production"}),  # one worker: its counts are all the counts
        (("--workers", "2"), {"APP_ENV": "production", "REDIS_URL": "redis://127.0.0.1:6379/15"}),  # shared in Redis
        (("--workers", "2"), {}),  # not a production start
    ],
)
def test_no_warning_where_the_limits_are_whole(tmp_path, args, env) -> None:
    log = start_log(tmp_path, *args, **env)
    assert "REDIS_URL is not set" not in log
