"""The deployment kit (deploy/): the compose file and the systemd units name the same
processes, and those processes — two gunicorn instances with the shipped config and one
`stockmirror scheduler`, on a fresh PostgreSQL database — work together as shipped.
(No container engine here: the processes are started natively, as the units start them.)"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import make_url

from app.webhooks.signature import sign
from tests.conftest import PG_URL
from tests.helpers import shipped_event
from tests.live import BIN, ROOT, clean_env, free_port, live
from tests.metrics_helpers import parse

DEPLOY = ROOT / "deploy"
INSTALL = "/opt/stockmirror/"
SECRET = "deploy-webhook-secret-41c2"
TOKEN = "deploy-api-token-6d0e"
TIMEOUT = 60


def unit(name: str) -> dict[str, list[str]]:
    """A systemd unit's settings (each key may repeat)."""
    settings: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def command(words: list[str]) -> list[str]:
    """A unit's or compose file's command, as run from this checkout and its virtualenv."""
    local = []
    for word in words:
        if word.startswith(INSTALL + "venv/bin/"):
            word = str(BIN / word.removeprefix(INSTALL + "venv/bin/"))
        elif word.startswith(INSTALL):
            word = str(ROOT / word.removeprefix(INSTALL))
        local.append(word)
    return local


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_and_systemd_units_run_the_same_processes_with_health_checks():
    web, scheduler = unit("stockmirror-web.service"), unit("stockmirror-scheduler.service")
    services = compose()["services"]
    assert {"db", "migrate", "web1", "web2", "scheduler"} <= set(services)
    web_cmd = [Path(w).name if "/" in w else w for w in shlex.split(web["ExecStart"][0])]
    assert web_cmd == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    for name in ("web1", "web2"):
        assert services[name]["command"] == [
            "gunicorn",
            "-c",
            "deploy/gunicorn.conf.py",
            "wsgi:app",
        ]
    assert [Path(w).name for w in shlex.split(scheduler["ExecStart"][0])] == [
        "stockmirror",
        "scheduler",
    ]
    assert services["scheduler"]["command"] == ["stockmirror", "scheduler"]
    assert services["migrate"]["command"] == ["stockmirror", "db", "upgrade"]
    assert shlex.split(web["ExecStartPre"][0])[1:] == ["db", "upgrade"]
    for name in ("db", "web1", "web2", "scheduler"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["web1"]["healthcheck"]["test"])
    for name in ("web1", "web2", "scheduler"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert "HEALTHCHECK" in (DEPLOY / "Dockerfile").read_text()


def test_the_env_file_template_names_every_setting_stockmirror_reads():
    config = (ROOT / "app" / "config.py").read_text()
    read = set(re.findall(r'env(?:\.get\(|\[)"([A-Z_]+)"', config))
    read |= set(re.findall(r'_number\(env, "([A-Z_]+)"', config))
    template = (DEPLOY / "stockmirror.env.example").read_text()
    listed = set(re.findall(r"^#?([A-Z_]+)=", template, re.M))
    assert len(read) > 15
    assert read - listed == set()


@pytest.fixture
def fresh_postgres():
    admin_url = make_url(PG_URL)
    name = f"sm_deploy_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def post(base: str, body: dict) -> requests.Response:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-Starshipit-Signature": sign(SECRET, raw)}
    return requests.post(
        f"{base}/webhooks/starshipit/orders", data=raw, headers=headers, timeout=TIMEOUT
    )


@pytest.mark.postgres_only
def test_two_web_instances_and_a_scheduler_share_one_postgresql_database(fresh_postgres, tmp_path):
    web, scheduler = unit("stockmirror-web.service"), unit("stockmirror-scheduler.service")
    env = clean_env(
        DATABASE_URL=fresh_postgres,
        STOCKMIRROR_WEBHOOK_SECRETS=SECRET,
        STOCKMIRROR_API_TOKENS=TOKEN,
        STOCKMIRROR_LOG_FORMAT="json",
        STOCKMIRROR_RETRY_INTERVAL="1",
        STOCKMIRROR_INSTANCE_PATH=str(tmp_path / "instance"),
        WEB_CONCURRENCY="2",
        PYTHONPATH=str(ROOT),
    )
    upgrade = subprocess.run(
        command(shlex.split(web["ExecStartPre"][0])), cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert upgrade.returncode == 0, upgrade.stderr

    ports = [free_port(), free_port()]
    metrics_port = free_port()
    web_cmd = command(shlex.split(web["ExecStart"][0]))
    sched_env = {**env, "STOCKMIRROR_SCHEDULER_METRICS_PORT": str(metrics_port)}
    instance_env = [
        {**env, "PORT": str(port), "HOST": "127.0.0.1",
         "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{port}")}
        for port in ports
    ]  # fmt: skip
    with (
        live(web_cmd, instance_env[0]) as web1,
        live(web_cmd, instance_env[1]) as web2,
        live(command(shlex.split(scheduler["ExecStart"][0])), sched_env) as sched,
    ):
        for server in (web1, web2):
            server.wait_for(lambda stream, line: "Listening at" in line)
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            ready = requests.get(f"{base}/readyz", timeout=TIMEOUT)
            assert ready.status_code == 200 and ready.json()["status"] == "ready"

        events = [shipped_event(f"dep-{n}", n, [("SKU-D", 2, 2)]) for n in range(1, 21)]
        for n, event in enumerate(events):
            assert post(bases[n % 2], event).json()["status"] == "applied"
        for n, event in enumerate(events):  # redelivered through the other instance
            assert post(bases[(n + 1) % 2], event).json()["status"] == "duplicate"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for base in bases:
            stock = requests.get(f"{base}/api/stock/SKU-D", headers=auth, timeout=TIMEOUT).json()
            assert stock["on_hand"] == -40
        verify = subprocess.run(
            [str(BIN / "stockmirror"), "ledger", "verify"], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert verify.returncode == 0, verify.stdout + verify.stderr

        line = sched.wait_for(lambda stream, line: "job retry: done" in line)
        assert json.loads(line)["logger"] == "app.reconcile.scheduler"
        runs = requests.get(
            f"{bases[0]}/api/scheduler/runs?job=retry&status=done", headers=auth, timeout=TIMEOUT
        ).json()
        assert runs["total"] >= 1
        assert runs["items"][0]["scheduler"].endswith(f":{sched.process.pid}")
        scraped = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=TIMEOUT)
        assert scraped.status_code == 200
        assert "# TYPE stockmirror_starshipit_requests_total counter" in scraped.text
        web_metrics = parse(requests.get(f"{bases[1]}/metrics", headers=auth, timeout=TIMEOUT).text)
        assert ("stockmirror_scheduler_runs_total", frozenset(
            {("job", "retry"), ("status", "done")})) in web_metrics  # fmt: skip

        for server in (web1, web2, sched):
            assert server.stop() == 0, server.output()
    for server in (web1, web2, sched):
        for text in server.lines["stderr"]:
            json.loads(text)  # JSON lines only
        assert SECRET not in server.output() and TOKEN not in server.output()
