"""gunicorn settings for production: gunicorn app:app (this file is read from the working directory)."""

import gc
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", str(min(8, multiprocessing.cpu_count() * 2))))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# gevent workers: one greenlet per connection; what the event-stream instance runs (see README).
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
# Access log to stdout by default; GUNICORN_ACCESS_LOG="" turns it off. Under a surge, the
# threads of a worker queue on the log handler's lock (measured: from about 6,500 down to
# 2,400 requests a second at times): log at the reverse proxy instead (docs/SCALING.md).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def when_ready(server):
    """Before the workers are forked: move what the master loaded (the app and its modules, under
    preload_app) out of the garbage collector's reach, as Python's gc.freeze documentation advises
    for forking servers. A worker's collections then look only at what its requests make and do
    not write to the pages it shares with the master (copy-on-write). Side by side the signing
    rate moved within the noise (medians of two 4- and 5-round runs: +5 %, +0 %)."""
    gc.collect()
    gc.freeze()
