"""First-run secrets: generated once into the instance folder, printed once."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from pathlib import Path

SECRETS_FILE = "secrets.json"
FIRST_RUN = ("STOCKMIRROR_WEBHOOK_SECRETS", "STOCKMIRROR_API_TOKENS")


def generate_secrets() -> dict[str, str]:
    """A fresh webhook signing secret, API token and console cookie-signing key
    (`stockmirror secrets generate`; every web host of one deployment shares them)."""
    return {
        "STOCKMIRROR_WEBHOOK_SECRETS": secrets.token_hex(32),
        "STOCKMIRROR_API_TOKENS": secrets.token_urlsafe(32),
        "STOCKMIRROR_SECRET_KEY": secrets.token_urlsafe(48),
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
        # The console's key is kept apart (ensure_secret_key): nobody needs to see it.
        stored = {k: v for k, v in generate_secrets().items() if k in FIRST_RUN}
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


SECRET_KEY_FILE = "console_secret_key"  # noqa: S105 - a file name, not a secret


def ensure_secret_key(instance: Path) -> str:
    """The key that signs console session cookies: generated once into the instance
    folder (readable by the owner only) when STOCKMIRROR_SECRET_KEY is not set. Several
    workers starting at once agree: the key is written to a private temporary file that
    is then hard-linked into place, so whoever links first wins and the others read it."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / SECRET_KEY_FILE
    if path.is_file():
        return path.read_text().strip()
    fd, tmp = tempfile.mkstemp(dir=instance, prefix=".secret-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):  # another worker linked first
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()
