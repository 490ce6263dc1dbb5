"""The deployment files agree with the code and with the process layout test_multinode.py runs.

No Docker image can be built here (no registry to pull a base image from: docs/DEPLOY.md, "How this
is tested"), so these checks read the files: every setting they pass is one the app or
gunicorn.conf.py reads, every command is one the app has, the image runs as a user of its own, and
the Caddyfile sends each of the app's URLs to the instance that serves it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from flask import Flask
from flask.cli import FlaskGroup

from petitions.config import _ENV as APP_SETTINGS
from tests.helpers import ROOT

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "web", "events", "worker")
# What the shipped gunicorn.conf.py reads from the environment.
GUNICORN_SETTINGS = set(
    re.findall(r"""os\.environ(?:\.get\(|\[)\s*["']([A-Z_]+)["']""", (ROOT / "gunicorn.conf.py").read_text())
)
# Read by the code outside config.py: whether this is production, and the flask command's app.
OTHER_SETTINGS = {"APP_ENV", "FLASK_ENV", "FLASK_APP", "PROMETHEUS_MULTIPROC_DIR", "GUNICORN_THREADS"}
KNOWN = set(APP_SETTINGS) | GUNICORN_SETTINGS | OTHER_SETTINGS
# What test_multinode.py starts (through tests/faults/helpers.py), one per kind of process.
GUNICORN = ["gunicorn", "app:app", "-c", "gunicorn.conf.py"]
WORKER = ["flask", "--app", "app", "worker"]


def dotenv(path: Path) -> dict[str, str]:
    """NAME=value lines of an env file."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


def app_commands(app: Flask) -> set[str]:
    """The names of the app's flask commands, those of extensions (db) included."""
    group = FlaskGroup(create_app=lambda: app)
    return set(group.list_commands(group.make_context("flask", [], resilient_parsing=True)))


def test_compose_runs_the_processes_of_the_multinode_test() -> None:
    assert set(SERVICES) >= {"web", "events", "worker", "db", "redis", "caddy", "migrate"}
    assert SERVICES["web"]["command"] == GUNICORN
    assert SERVICES["events"]["command"] == GUNICORN
    assert SERVICES["events"]["environment"]["GUNICORN_WORKER_CLASS"] == "gevent"
    assert SERVICES["worker"]["command"] == WORKER
    assert SERVICES["worker"]["deploy"]["replicas"] >= 2
    assert SERVICES["migrate"]["command"] == ["flask", "--app", "app", "db", "upgrade"]
    for name in ("web", "events", "worker"):
        assert SERVICES[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert SERVICES[name]["env_file"] == ".env"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_passes_only_settings_the_app_reads(service: str) -> None:
    environment = SERVICES[service]["environment"]
    assert set(environment) <= KNOWN, set(environment) - KNOWN
    assert environment["APP_ENV"] == "production"
    assert environment["REDIS_URL"].startswith("redis://redis:")
    assert (
        environment["DATABASE_URL"].startswith("postgresql+psycopg://") and "@db:5432/" in environment["DATABASE_URL"]
    )


def test_the_env_example_names_settings_and_holds_no_secret() -> None:
    example = dotenv(ROOT / ".env.example")
    compose_text = (ROOT / "compose.yaml").read_text()
    for name in example:
        assert name in KNOWN or f"${{{name}" in compose_text, f"{name} is read by nothing"
    for secret in ("SECRET_KEY", "LOG_SIGNING_KEY", "POSTGRES_PASSWORD", "MAIL_PASSWORD", "METRICS_TOKEN"):
        assert example[secret] == "", f"{secret} must be left empty in .env.example"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_compose_commands_are_commands_of_the_app(app: Flask) -> None:
    commands = app_commands(app)
    for service in APP_SERVICES:
        command = SERVICES[service]["command"]
        if command[0] == "flask":
            assert command[3] in commands, f"{service}: flask has no command {command[3]!r}"
        else:
            assert command == GUNICORN and (ROOT / command[-1]).exists()
    for unit in (ROOT / "deploy" / "systemd").glob("*.service"):
        (exec_start,) = re.findall(r"^ExecStart=(.+)$", unit.read_text(), re.MULTILINE)
        args = shlex.split(exec_start)
        if args[0].endswith("/flask"):
            assert args[1:3] == ["--app", "app"] and args[3] in commands, unit.name
        else:
            assert [Path(args[0]).name, *args[1:]] == GUNICORN, unit.name


def test_the_image_is_multi_stage_and_runs_as_a_user_of_its_own() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#") and not line.startswith("&&")]
    stages = [line for line in instructions if line.upper().startswith("FROM ")]
    assert len(stages) >= 2 and any("COPY --from=build" in line for line in instructions)
    runtime = instructions[instructions.index(stages[-1]) :]
    users = [line.split()[1] for line in runtime if line.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    copied = " ".join(line for line in runtime if line.upper().startswith("COPY "))
    for needed in ("app.py", "gunicorn.conf.py", "petitions", "migrations", "templates", "static"):
        assert re.search(rf"\b{re.escape(needed)}\b", copied), f"the image lacks {needed}"
    (cmd,) = [line for line in runtime if line.upper().startswith("CMD ")]
    assert cmd == 'CMD ["gunicorn", "app:app", "-c", "gunicorn.conf.py"]'
    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in ("app.py", "gunicorn.conf.py", "petitions", "migrations", "templates", "static", "requirements.txt"):
        assert needed not in ignored


def _caddy_routes() -> tuple[str, re.Pattern[str], str]:
    """What the Caddyfile does: the path it refuses, the events pattern and its upstream, the web upstream."""
    text = (ROOT / "deploy" / "Caddyfile").read_text()
    refused = re.search(r"handle (\S+) \{\s*respond 404", text)
    events = re.search(r"@events path_regexp events (\S+)", text)
    upstreams = re.findall(r"reverse_proxy (?:@\w+ )?\{\$(\w+):([\d.:]+)\}", text)
    assert (
        refused and events and upstreams == [("EVENTS_UPSTREAM", "127.0.0.1:8001"), ("WEB_UPSTREAM", "127.0.0.1:8000")]
    )
    return refused.group(1), re.compile(events.group(1)), text


def _example_path(rule: str) -> str:
    """A path the URL rule matches, each variable given a plain value."""
    return re.sub(r"<(?:[^:>]+:)?[^>]+>", "x1", rule)


def test_the_caddyfile_sends_each_url_to_the_instance_that_serves_it(app: Flask) -> None:
    refused, events, _text = _caddy_routes()
    assert refused == "/metrics"
    for rule in app.url_map.iter_rules():
        path = _example_path(rule.rule)
        to_events = bool(events.search(path))
        assert to_events == (rule.rule == "/petitions/<slug>/events"), f"{rule.rule} goes to the wrong instance"
        assert path != refused or rule.endpoint == "metrics", f"{rule.rule} is refused by Caddy"
    # compose's upstreams are its services, on the ports gunicorn is bound to there.
    caddy = SERVICES["caddy"]["environment"]
    assert caddy["WEB_UPSTREAM"] == "web:" + SERVICES["web"]["environment"]["GUNICORN_BIND"].rsplit(":", 1)[1]
    assert caddy["EVENTS_UPSTREAM"] == "events:" + SERVICES["events"]["environment"]["GUNICORN_BIND"].rsplit(":", 1)[1]


def test_systemd_units_bind_where_the_caddyfile_sends() -> None:
    units = {p.name: p.read_text() for p in (ROOT / "deploy" / "systemd").glob("*.service")}
    assert "GUNICORN_BIND=127.0.0.1:8000" in units["petitions-web.service"]
    assert "GUNICORN_BIND=127.0.0.1:8001" in units["petitions-events.service"]
    assert "GUNICORN_WORKER_CLASS=gevent" in units["petitions-events.service"]
    for name, text in units.items():
        user = re.search(r"^User=(\S+)$", text, re.MULTILINE)
        assert user and user.group(1) != "root", name
        assert "EnvironmentFile=/etc/petitions/env" in text, name
        for assignment in re.findall(r"^Environment=(.+)$", text, re.MULTILINE):
            for pair in shlex.split(assignment):
                assert pair.split("=", 1)[0] in KNOWN, f"{name}: {pair}"
