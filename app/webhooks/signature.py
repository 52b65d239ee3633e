"""HMAC-SHA256 over the raw request body; any configured secret verifies (rotation)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verifying_account(
    accounts: Sequence[tuple[str, Sequence[str]]], body: bytes, signature: str | None
) -> str | None:
    """The id of the account one of whose secrets verifies the body (None: none does).
    Every secret of every account is compared, so timing does not reveal which one."""
    if not signature:
        return None
    given = signature.strip().lower()
    found: str | None = None
    for account_id, secrets in accounts:
        for secret in secrets:
            if hmac.compare_digest(sign(secret, body), given) and found is None:
                found = account_id
    return found
