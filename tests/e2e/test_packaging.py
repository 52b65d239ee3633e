"""`pip install <checkout>` (not editable) gives a working product from any directory.

The wheel is built from a copy of this working tree, installed into a fresh virtualenv,
and run from an unrelated temporary directory: `stockmirror db upgrade`, `gunicorn
wsgi:app` (ready, migrations at head) and `stockmirror serve`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.migrate import head_revision
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("TEST_DATABASE_URL")
START_DEADLINE = 60.0
# Settings of the outer test run must not leak into the installed product.
SCRUBBED = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "DATABASE_URL", "TEST_DATABASE_URL")


@dataclass
class Installed:
    venv: Path
    site_packages: Path

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def copy_of_the_working_tree(target: Path) -> Path:
    """Tracked and new (not ignored) files only: no .venv, instance or caches."""
    listed = run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT).stdout
    archive = target.parent / "tree.tar"
    with tarfile.open(archive, "w") as tar:
        for name in filter(None, listed.split("\0")):
            if (ROOT / name).is_file():
                tar.add(ROOT / name, arcname=name)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("packaging")
    source = copy_of_the_working_tree(base / "source")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    run([*pip, "wheel", "--no-deps", "-w", str(base / "dist"), str(source)])
    [wheel] = (base / "dist").glob("stockmirror-*.whl")
    venv = base / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    run([*pip, "--python", str(venv / "bin" / "python"), "install", str(wheel)])
    located = run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        cwd=base,
        env=clean_env(),
    )
    return Installed(venv=venv, site_packages=Path(located.stdout.strip()))


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in SCRUBBED and not k.startswith("STOCKMIRROR_")
    }
    env.update(extra)
    return env


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """An unrelated working directory: no checkout, no app/ beside it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL database in that pass."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    admin_url = make_url(PG_URL)
    name = f"sm_pkg_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def serving(tmp_path: Path) -> Iterator:
    """Start a server process; wait (with a deadline) until `path` answers; stop it after."""
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def start(cmd: list[str], cwd: Path, env: dict[str, str], port: int, path: str) -> str:
        logs.append(tmp_path / f"server-{len(processes)}.log")
        with logs[-1].open("wb") as log:
            process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_DEADLINE
        while True:  # process start-up: poll until it listens, give up at the deadline
            try:
                requests.get(base + path, timeout=5)
                return base
            except (requests.ConnectionError, requests.Timeout):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = logs[-1].read_text(errors="replace")
                raise AssertionError(f"{cmd} did not start listening:\n{output}")
            time.sleep(0.1)

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_installed_package_carries_migrations_templates_static_files_and_wsgi(installed):
    source = ROOT / "app"
    wanted = {
        path.relative_to(source).as_posix()
        for path in source.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and (
            path.relative_to(source).parts[0] == "migrations"
            or {"templates", "static"} & set(path.relative_to(source).parts[:-1])
        )
    }
    assert "migrations/script.py.mako" in wanted
    assert any(name.endswith("report.html") for name in wanted)
    package = installed.site_packages / "app"
    missing = sorted(name for name in wanted if not (package / name).is_file())
    assert missing == []
    assert (installed.site_packages / "wsgi.py").is_file()


def test_db_upgrade_then_gunicorn_serves_a_ready_app_from_an_unrelated_directory(
    installed, elsewhere, fresh_database, serving
):
    env = clean_env(DATABASE_URL=fresh_database)
    upgraded = run([installed.bin("stockmirror"), "db", "upgrade"], cwd=elsewhere, env=env)
    assert "database at head" in upgraded.stdout
    located = run(
        [installed.bin("python"), "-c", "import app, wsgi; print(app.__file__, wsgi.__file__)"],
        cwd=elsewhere,
        env=env,
    )
    assert all(path.startswith(str(installed.venv)) for path in located.stdout.split())

    port = free_port()
    gunicorn = [installed.bin("gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app"]
    base = serving(gunicorn, elsewhere, env, port, "/readyz")

    ready = requests.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "revision": head_revision()}
    assert requests.get(f"{base}/healthz", timeout=10).status_code == 200


def test_stockmirror_serve_runs_from_an_unrelated_directory_with_its_instance_there(
    installed, elsewhere, serving
):
    port = free_port()
    serve = [installed.bin("stockmirror"), "serve", "--port", str(port)]
    base = serving(serve, elsewhere, clean_env(), port, "/healthz")

    assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
    # First-run secrets and the SQLite default live in ./instance, not beside the code.
    assert (elsewhere / "instance" / "secrets.json").is_file()
    assert (elsewhere / "instance" / "stockmirror.db").is_file()
    assert not (installed.site_packages / "instance").exists()
