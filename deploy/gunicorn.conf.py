"""gunicorn settings for stockmirror: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Every value can be changed from the environment (the env file, the unit or compose file)
without editing this file; a command-line flag (`-b`, `-w`) wins over both.

- Logs: gunicorn's own lines and the app's lines go to stderr through the app's handler,
  as JSON with STOCKMIRROR_LOG_FORMAT=json (the default here) or as text. The access log
  is the app's request line (`logger: app.access`: method, path, status, duration_ms,
  request_id, remote_addr), so gunicorn's own access log is off.
- Metrics: prometheus_client in multiprocess mode. PROMETHEUS_MULTIPROC_DIR (a private
  temporary folder when unset) is emptied when gunicorn starts; a worker that exits is
  marked dead so its gauges go while its counts stay in the sums.
- Behind a proxy: gunicorn trusts X-Forwarded-Proto from FORWARDED_ALLOW_IPS; the app
  reads X-Forwarded-For/-Proto/-Host through STOCKMIRROR_PROXY_HOPS proxies (ProxyFix).
"""

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

_created_metrics_dir = False
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="stockmirror-metrics-")
    _created_metrics_dir = True
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
LOG_FORMAT = os.environ.get("STOCKMIRROR_LOG_FORMAT", "json").strip().lower() or "json"
os.environ["STOCKMIRROR_LOG_FORMAT"] = LOG_FORMAT  # the workers' app logs the same way

wsgi_app = "wsgi:app"
bind = [f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"]  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * multiprocessing.cpu_count() + 1)
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))  # a silent worker is restarted
graceful_timeout = 30  # requests in flight finish on a restart or deploy
keepalive = 5
max_requests = 10_000  # recycle workers now and then (bounded memory growth)
max_requests_jitter = 1_000
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
control_socket_disable = True  # several instances may share a host (and a HOME)

accesslog = None
errorlog = "-"
loglevel = "info"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "WARNING", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
    "handlers": {
        "stderr": {"()": "app.observability.logs.StderrHandler", "log_format": LOG_FORMAT},
    },
    "formatters": {},
}


def on_starting(server):
    """Counts from a previous run must not be summed into this one."""
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(METRICS_DIR))


def on_exit(server):
    if _created_metrics_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
