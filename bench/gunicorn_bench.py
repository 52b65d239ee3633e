"""gunicorn settings bench/ingest.py gives BOTH servers (`-c bench/gunicorn_bench.py`).

A sync worker that accepts a connection blocks until the request arrives. wrk paces its
requests (delay()) after it has connected, so without this every paced connection would
hold a worker idle for its whole pause. TCP_DEFER_ACCEPT makes the kernel hand a
connection to accept() only once request bytes have arrived — what a buffering proxy in
front of gunicorn (the recommended deployment for sync workers) does.
"""

import socket


def when_ready(server):  # gunicorn hook: listeners are bound, workers not yet forked
    for listener in server.LISTENERS:
        listener.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 30)
