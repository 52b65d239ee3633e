"""Starshipit REST client (STARSHIPIT_API.md): timeouts, a shared rate limit, retries.

Every call has a timeout. Requests to Starshipit from one process share one token bucket
per (base URL, rate). 429 honours Retry-After; 5xx, timeouts and connection errors are
retried a bounded number of times with jittered exponential backoff. A 200 whose body says
`success: false`, and gateway bodies `{statusCode, message}`, become `StarshipitError`.
Keys are sent in headers only and never appear in logs, messages or repr().
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from app.observability import metrics
from app.timeutil import isoformat, utcnow

log = logging.getLogger(__name__)

PAGE_LIMIT = 250
MAX_PAGES = 100_000  # every loop over external pages is bounded
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


class StarshipitError(RuntimeError):
    """Starshipit answered, but with an error (bad key, success false, bad request...)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class StarshipitUnavailable(StarshipitError):
    """Starshipit could not be reached or kept failing after the retries: try later."""


class StarshipitNotConfigured(StarshipitError):
    def __init__(self) -> None:
        super().__init__(
            "Starshipit API not configured (STARSHIPIT_API_KEY, STARSHIPIT_SUBSCRIPTION_KEY)"
        )


class TokenBucket:
    """Thread-safe token bucket: `rate` tokens per second, bursts up to `capacity` (1).

    A caller reserves its token under the lock and sleeps outside it, so callers are
    spaced fairly and the lock is never held while waiting.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else 1.0  # no bursts over the rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting if needed; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


_buckets: dict[tuple[str, str, float], TokenBucket] = {}
_buckets_lock = threading.Lock()


def shared_bucket(base_url: str, rate: float, account_id: str = "default") -> TokenBucket:
    """The process-wide bucket of one account's keys at this Starshipit endpoint and rate
    (each account has its own rate limit)."""
    key = (base_url, account_id, rate)
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None:
            bucket = _buckets[key] = TokenBucket(rate)
        return bucket


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - utcnow()).total_seconds())


class StarshipitClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        subscription_key: str | None,
        *,
        rate_limit: float = 2.0,
        account_id: str = "default",
        bucket: TokenBucket | None = None,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        session: requests.Session | None = None,
    ) -> None:
        if not api_key or not subscription_key:
            raise StarshipitNotConfigured()
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "StarShipIT-Api-Key": api_key,
            "Ocp-Apim-Subscription-Key": subscription_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.account_id = account_id
        self.bucket = bucket or shared_bucket(self.base_url, rate_limit, account_id)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._rng = rng
        self._http = session or requests.Session()
        self._http.hooks["response"].append(metrics.count_starshipit_response)
        self.calls = 0  # HTTP requests sent (retries included)

    def __repr__(self) -> str:
        return f"StarshipitClient({self.base_url!r})"

    # -- endpoints -------------------------------------------------------------------

    def get_order(
        self, *, order_id: int | None = None, order_number: str | None = None
    ) -> dict[str, Any]:
        if order_id is None and not order_number:
            raise ValueError("order_id or order_number is required")
        params: dict[str, Any] = (
            {"order_id": order_id} if order_id is not None else {"order_number": order_number}
        )
        body = self.get("/api/orders", params)
        order = body.get("order")
        if not isinstance(order, dict):
            raise StarshipitError("Starshipit answered without an order")
        return order

    def shipped_pages(
        self, since: datetime, *, limit: int = PAGE_LIMIT, first_page: int = 1
    ) -> Iterator[tuple[int, int, list[dict[str, Any]]]]:
        """(page, total_pages, rows) for GET /api/orders/shipped since `since`."""
        params = {"since_last_updated": isoformat(since)}
        return self._pages("/api/orders/shipped", params, limit, first_page)

    def unshipped_pages(
        self, since: datetime, *, limit: int = PAGE_LIMIT, first_page: int = 1
    ) -> Iterator[tuple[int, int, list[dict[str, Any]]]]:
        params = {"since_last_updated": isoformat(since)}
        return self._pages("/api/orders/unshipped", params, limit, first_page)

    def _pages(
        self, path: str, params: dict[str, Any], limit: int, first_page: int = 1
    ) -> Iterator[tuple[int, int, list[dict[str, Any]]]]:
        limit = max(1, min(limit, PAGE_LIMIT))
        for page in range(max(1, first_page), MAX_PAGES + 1):
            body = self.get(path, {**params, "limit": limit, "page": page})
            rows = body.get("orders") or []
            if not isinstance(rows, list):
                raise StarshipitError(f"{path}: 'orders' is not a list")
            try:
                total = int(body.get("total_pages") or 0)
            except (TypeError, ValueError):
                total = 0
            yield page, max(total, page), rows
            # total_pages decides; a short page only ends a listing that does not give it
            # (Starshipit may serve fewer rows per page than asked). An empty page always ends.
            if not rows or (page >= total if total else len(rows) < limit):
                return
        raise StarshipitError(f"{path}: more than {MAX_PAGES} pages")

    # -- transport -------------------------------------------------------------------

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """GET a path; transient faults (connection errors, timeouts, 429, 5xx, gateway
        429/5xx bodies and `success: false` on a read) are retried with backoff, then
        raise StarshipitUnavailable (StarshipitError for a persistent success false)."""
        url = f"{self.base_url}{path}"
        attempt = 0
        while True:
            self.bucket.acquire()
            self.calls += 1
            answer = self._attempt(url, path, params)
            if not isinstance(answer, _Transient):
                return answer
            if attempt >= self.max_retries:
                raise answer.give_up(attempt + 1)
            attempt += 1
            if answer.wait is None:
                self._backoff(attempt, answer.reason)
            else:
                self._sleep(min(answer.wait, self.max_retry_after))

    def _attempt(self, url: str, path: str, params: dict[str, Any]) -> dict[str, Any] | _Transient:
        try:
            response = self._http.get(
                url, params=params, headers=self._headers, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as error:
            metrics.count_starshipit_failure(error)
            return _Transient(f"{type(error).__name__} calling GET {path}")
        status = response.status_code
        log.info("starshipit GET %s -> %s", path, status)
        if status == 429:
            return _Transient(
                f"GET {path}: rate limited (429)",
                429,
                _retry_after(response.headers.get("Retry-After")),
            )
        if status in RETRYABLE_STATUS:
            return _Transient(f"GET {path}: {status}: {_message(response)}", status)
        return self._decode(path, response)

    def _backoff(self, attempt: int, reason: str) -> None:
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        delay = ceiling * (0.5 + 0.5 * self._rng())  # jitter: half to full
        log.warning("starshipit: %s; retry %d in %.2fs", reason, attempt, delay)
        self._sleep(delay)

    def _decode(self, path: str, response: requests.Response) -> dict[str, Any] | _Transient:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if status >= 400:
            raise StarshipitError(f"GET {path}: {status}: {_message(response, body)}", status)
        if not isinstance(body, dict):
            raise StarshipitError(f"GET {path}: the answer is not a JSON object", status)
        if "statusCode" in body and "success" not in body:
            code = _int_or_none(body.get("statusCode"))
            reason = f"GET {path}: gateway error {body.get('statusCode')}: {body.get('message')}"
            if code == 429 or code in RETRYABLE_STATUS:
                return _Transient(reason, code)
            raise StarshipitError(reason, code)
        if not body.get("success"):
            message = _message(response, body)
            if any(answer in message.lower() for answer in NOT_FOUND_MESSAGES):
                raise StarshipitError(f"GET {path}: success false: {message}", status)
            return _Transient(f"GET {path}: success false: {message}", status, refused=True)
        return body


# `success: false` saying the thing asked for does not exist is an answer, not a fault.
NOT_FOUND_MESSAGES = ("not found",)


@dataclass(frozen=True)
class _Transient:
    """A failed attempt worth retrying: why, the HTTP status, the wait Starshipit asked."""

    reason: str
    status: int | None = None
    wait: float | None = None
    refused: bool = False  # Starshipit answered `success: false`

    def give_up(self, attempts: int) -> StarshipitError:
        text = f"{self.reason} (after {attempts} attempts)"
        if self.refused:
            return StarshipitError(text, self.status)
        return StarshipitUnavailable(text, self.status)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _message(response: requests.Response, body: Any = None) -> str:
    if body is None:
        try:
            body = response.json()
        except ValueError:
            return (response.text or response.reason or "").strip()[:300]
    if isinstance(body, dict):
        if body.get("message"):
            return str(body["message"])[:300]
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = []
            for e in errors[:5]:
                if isinstance(e, dict):
                    text = str(e.get("message") or "")
                    if e.get("details"):
                        text += f" ({e['details']})"
                    parts.append(text)
                else:
                    parts.append(str(e))
            return "; ".join(parts)[:300]
    return str(body)[:300]


def client_from_settings(
    settings: Any, account_id: str = "default", **kwargs: Any
) -> StarshipitClient:
    """A client with the keys and rate limit of one account (Settings.account); raises
    StarshipitNotConfigured when that account has no API keys, LookupError for an
    account the configuration does not know."""
    account = settings.account(account_id)
    kwargs.setdefault("rate_limit", account.rate_limit)
    kwargs.setdefault(
        "timeout", (min(5.0, settings.starshipit_timeout), settings.starshipit_timeout)
    )
    return StarshipitClient(
        settings.starshipit_api_url,
        account.starshipit_api_key,
        account.starshipit_subscription_key,
        account_id=account.id,
        **kwargs,
    )
