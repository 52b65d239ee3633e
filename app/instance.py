"""First-run secrets: generated once into the instance folder, printed once."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

SECRETS_FILE = "secrets.json"


def generate_secrets() -> dict[str, str]:
    """A fresh webhook signing secret and API token (`stockmirror secrets generate`)."""
    return {
        "STOCKMIRROR_WEBHOOK_SECRETS": secrets.token_hex(32),
        "STOCKMIRROR_API_TOKENS": secrets.token_urlsafe(32),
    }


def ensure_secrets(instance: Path, env: dict[str, str]) -> dict[str, str]:
    """Return env additions for missing webhook secret / API token, creating them once.

    Printing happens only when the file is created, so secrets appear on the terminal
    exactly once. Values set in the environment always win.
    """
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / SECRETS_FILE
    created = False
    if path.exists():
        stored = json.loads(path.read_text())
    else:
        stored = generate_secrets()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(stored, handle, indent=2)
        created = True
    additions = {k: v for k, v in stored.items() if not env.get(k)}
    if created:
        print(f"stockmirror: first run, generated secrets in {path} (shown once):", flush=True)
        for key, value in additions.items():
            print(f"  {key}={value}", flush=True)
    return additions
