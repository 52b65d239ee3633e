"""Live processes for end-to-end tests: a server started as people start it, its output
read line by line (waits are on lines it prints, with a deadline), and a small fake
Starshipit REST API served over HTTP for processes that `responses` cannot reach."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from tests.helpers import free_port

__all__ = ["free_port"]  # one home for picking a port (tests.helpers)
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STARTUP = 60.0  # seconds: the machine is shared and may be slow


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any stockmirror or database setting of the caller's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STOCKMIRROR_", "STARSHIPIT_", "PROMETHEUS_", "DATABASE_URL"))
        and k not in ("HOST", "PORT", "WEB_CONCURRENCY")
    }
    env.update(extra)
    return env


class Live:
    """A child process whose stdout and stderr lines are kept and can be waited for."""

    def __init__(self, cmd: list[str], env: Mapping[str, str], cwd: Path = ROOT) -> None:
        self.cmd = cmd
        self.process = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._seen: list[tuple[str, str]] = []
        self._open = 2
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self.lines[name].append(line.rstrip("\n"))
                self._seen.append((name, line.rstrip("\n")))
                self._changed.notify_all()
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    def wait_for(self, match: Callable[[str, str], bool], timeout: float = STARTUP) -> str:
        """The first line printed so far or from now on (stream, text) that `match`es."""
        deadline = time.monotonic() + timeout
        checked = 0
        with self._changed:
            while True:
                for name, line in self._seen[checked:]:
                    if match(name, line):
                        return line
                checked = len(self._seen)
                if not self._open:
                    raise AssertionError(
                        f"{self.cmd[:3]} ended ({self.process.wait()}) first:\n{self.output()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting; output:\n{self.output()}")
                self._changed.wait(left)

    def output(self) -> str:
        return "\n".join(self.lines["stdout"] + ["--- stderr ---"] + self.lines["stderr"])

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as systemd and docker stop a service; then wait for the output to end."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        for reader in self._readers:
            reader.join(timeout=timeout)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code


@contextmanager
def live(cmd: list[str], env: Mapping[str, str], cwd: Path = ROOT) -> Iterator[Live]:
    process = Live(cmd, env, cwd)
    try:
        yield process
    finally:
        process.stop()


class StarshipitServer:
    """GET /api/orders?order_number=|order_id=, /api/orders/shipped, /api/orders/unshipped,
    answering from `orders` (full Starshipit order objects); counts every request."""

    def __init__(self, api_key: str, subscription_key: str) -> None:
        self.orders: list[dict[str, Any]] = []
        self.requests = 0
        self.keys = (api_key, subscription_key)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                fake.requests += 1
                status, body = fake.answer(self.path, self.headers)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, headers: Any) -> tuple[int, dict[str, Any]]:
        if (headers.get("StarShipIT-Api-Key"), headers.get("Ocp-Apim-Subscription-Key")) != (
            self.keys
        ):
            return 401, {"statusCode": 401, "message": "Access denied"}
        url = urlparse(path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/api/orders":
            for order in self.orders:
                if str(order["order_number"]) == query.get("order_number") or str(
                    order["order_id"]
                ) == query.get("order_id"):
                    return 200, {"success": True, "order": order}
            return 200, {"success": False, "errors": [{"message": "Order not found"}]}
        if url.path == "/api/orders/shipped":
            rows = [
                {k: o[k] for k in ("order_id", "order_number", "order_date")}
                | {"shipped_date": o["order_date"]}
                for o in self.orders
                if o["status"] == "Shipped"
            ]
            return 200, {"success": True, "orders": rows, "total_pages": 1}
        if url.path == "/api/orders/unshipped":
            rows = [o for o in self.orders if o["status"] != "Shipped"]
            return 200, {"success": True, "orders": rows, "total_pages": 1}
        return 404, {"statusCode": 404, "message": "Resource not found"}

    def __enter__(self) -> StarshipitServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 and an ephemeral port; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def chunked_post(base: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST `body` with Transfer-Encoding: chunked (no Content-Length)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.putrequest("POST", path)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for start in range(0, len(body), 65536):
        part = body[start : start + 65536]
        conn.send(b"%x\r\n" % len(part) + part + b"\r\n")
    conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    status, data = response.status, response.read()
    conn.close()
    return status, data
