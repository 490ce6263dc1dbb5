"""gunicorn settings for production: gunicorn app:app (this file is read from the working directory)."""

import errno
import gc
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile

from gunicorn.util import parse_address

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", str(min(8, multiprocessing.cpu_count() * 2))))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
# Two threads per worker, and two workers per core: a worker's threads take turns on Python's
# one interpreter lock, and the more of them queue for it the more CPU each request costs;
# two processes per core keep the cores busy while a thread waits on the database. Two
# threads are enough because idle keep-alive and just-opened connections wait in the
# worker's poller, not in a thread. docs/SCALING.md compares the alternatives.
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
# gevent workers: one greenlet per connection; what the event-stream instance runs (docs/DEPLOY.md).
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "2000"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
# Load the app once in the master, so a broken configuration (no SECRET_KEY) stops the start.
# Not under gevent: its monkey-patching must come before the app (and psycopg) are imported.
preload_app = worker_class not in ("gevent", "eventlet")
# gunicorn 27 shares one control socket per user by default; several instances on a machine
# (tests, benchmarks, two sites) would replace each other's. Off unless asked for.
control_socket_disable = os.environ.get("GUNICORN_CONTROL_SOCKET") is None
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
# Access log to stdout by default; GUNICORN_ACCESS_LOG="" turns it off. Under a surge the
# threads of a worker queue on the log handler's one lock, which then limits the worker's
# rate: log at the reverse proxy instead (docs/SCALING.md).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
# LOG_FORMAT=json: gunicorn's lines and the app's, one JSON object each (petitions/infra/logs.py).
if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the app's folder, which gunicorn adds only later
    from petitions.infra.logs import gunicorn_config

    logconfig_dict = gunicorn_config(access=accesslog is not None)

# Prometheus (petitions/web/metrics.py): each worker writes its counters to files in this folder,
# and a scrape of any worker adds up all of them. Set before the app, and so prometheus-client, is
# imported. A folder of this server's own unless PROMETHEUS_MULTIPROC_DIR names one (systemd's
# RuntimeDirectory): two servers sharing one would count each other's requests.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="petitions-metrics-")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def _fixed_tcp_port(address: str) -> bool:
    """A TCP address with a fixed port: each worker can open its own socket on it (SO_REUSEPORT)."""
    parsed = parse_address(address)
    return isinstance(parsed, tuple) and parsed[1] != 0  # not a Unix socket, an fd, or "any free port"


# Each worker listens on a socket of its own, and the kernel spreads new connections over
# them. With the one socket the workers share otherwise, whichever worker is awake when a
# burst of connections arrives accepts them all, and keep-alive keeps them there: a proxy's
# or load balancer's pooled connections can all land on one worker, which then has one core
# while the others sit idle (docs/SCALING.md).
# GUNICORN_REUSE_PORT=false goes back to the shared socket. on_starting keeps it only where it
# applies, judged on the addresses gunicorn will really listen on (--bind included).
reuse_port = os.environ.get("GUNICORN_REUSE_PORT", "true").lower() not in ("0", "false", "no", "off")


def _production() -> bool:
    """petitions.config.is_production, read here without importing the app: gevent workers must
    import it only after their monkey-patching."""
    return "production" in {os.environ.get("FLASK_ENV", ""), os.environ.get("APP_ENV", "")}


def _warn_per_worker_limits(server) -> None:
    """Say loudly when a production start's rate limits are counted by each worker on its own.

    Without REDIS_URL, Flask-Limiter keeps its counters in each process's memory: with N
    workers every limit (logins, registrations, password resets, signing) lets N times as
    many requests through. A preloaded app's settings (instance/config.py included) decide;
    otherwise the environment does.
    """
    workers = server.cfg.workers
    if workers < 2 or not _production():
        return
    app = server.app.callable  # the Flask app under preload_app, else None (not loaded yet)
    redis_url = app.config.get("REDIS_URL") if app is not None else os.environ.get("REDIS_URL")
    if redis_url:
        return
    server.log.warning(
        "REDIS_URL is not set: each of the %d workers counts rate limits on its own, so every limit "
        "(logins, registrations, password resets, signing) lets %d times as many requests through. "
        "Set REDIS_URL to share them, or run one worker (WEB_CONCURRENCY=1).",
        workers,
        workers,
    )


def on_starting(server):
    """Warn when rate limits are per worker; keep a socket per worker only for TCP addresses
    with a fixed port, and then refuse to start on an address something already listens on.

    Each worker binding a Unix socket's path would remove the others', and port 0 would give
    each worker a different port. SO_REUSEPORT would also let a second instance of this site
    (same user, same port) start and silently take half of the first one's connections. Not
    checked when gunicorn re-executes itself for an upgrade (USR2): the old workers listen
    there on purpose.
    """
    _warn_per_worker_limits(server)
    if not server.master_pid:  # not the new master of an upgrade, whose old workers still count there
        _clear_metrics()
    cfg = server.cfg
    if not cfg.reuse_port:
        return
    if not hasattr(socket, "SO_REUSEPORT") or not all(_fixed_tcp_port(a) for a in cfg.bind):
        cfg.set("reuse_port", False)
        return
    if server.master_pid:
        return
    for address in cfg.bind:
        host, port = parse_address(address)
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds: TIME_WAIT is no obstacle
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise RuntimeError(f"{address} is already in use: is another server running there?") from None
                raise
    server.log.info("Each worker listens on %s with a socket of its own (SO_REUSEPORT)", ", ".join(cfg.bind))


def when_ready(server):
    """Before the workers are forked: move what the master loaded (the app and its modules, under
    preload_app) out of the garbage collector's reach, as Python's gc.freeze documentation advises
    for forking servers. A worker's collections then look only at what its requests make and do
    not write to the pages it shares with the master (copy-on-write). It is there for memory:
    the request rate is the same with it or without."""
    gc.collect()
    gc.freeze()


def _clear_metrics() -> None:
    """Start the counters from zero: files left in the folder by an earlier run would be added in."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def child_exit(server, worker):
    """A worker gone: drop its live gauges' files (prometheus-client's multiprocess rule); its counters stay
    in the sums, as a counter must never go down."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder this server made for itself, unless a new master it started for an
    upgrade (USR2) goes on using it."""
    if _own_metrics_dir and not getattr(server, "reexec_pid", 0):
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
