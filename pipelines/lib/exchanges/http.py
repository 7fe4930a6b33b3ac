"""One HTTP session per venue: pooling, timeouts, retries with backoff, request budgets, errors.

Transport faults (429 with `Retry-After`, 5xx, connect and read timeouts) are retried by urllib3's
`Retry` inside the session's adapter. A body that arrives broken (cut short, not JSON) is retried
as a whole request by tenacity. Hard stops — a Binance 418 ban, a Bybit 403 IP block or `retCode`
10006 — are never retried: hammering a venue that has banned us only extends the ban.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import requests
import tenacity
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pipelines.lib.normalize import SourceFormatError
from pipelines.lib.secrets import redact, redact_payload

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)


class ExchangeError(RuntimeError):
    """A venue call failed; the message names the venue and endpoint."""

    def __init__(self, venue: str, endpoint: str, message: str):
        super().__init__(f"{venue} {endpoint}: {message}")
        self.venue = venue
        self.endpoint = endpoint


class RateLimitStop(ExchangeError):
    """The venue banned or hard-limited us (Binance 418, Bybit 403 / retCode 10006): stop, do not retry."""

    def __init__(self, venue: str, endpoint: str, message: str, retry_after: float | None = None,
                 first: RateLimitStop | None = None):
        super().__init__(venue, endpoint, message)
        self.retry_after = retry_after
        self.first = first or self  # the stop that ended calls to this venue in this run


class VenueUnreachable(RateLimitStop):
    """No connection to the venue after every retry (no network, DNS, firewall): like a ban, no
    further call reaches that venue in this run, so a run without network ends in bounded time."""


class BrokenBody(ExchangeError):
    """The response body was cut short or is not JSON; worth another request."""


class PayloadShapeError(SourceFormatError):
    """A payload does not have the documented shape; names venue, endpoint and field."""

    def __init__(self, venue: str, endpoint: str, field: str, detail: str):
        super().__init__(f"{venue} {endpoint}: field '{field}' {detail}")
        self.venue = venue
        self.endpoint = endpoint
        self.field = field


class RequestBudget:
    """A sliding-window budget: at most `limit` weight per `window` seconds, waiting when spent.

    Venue limits are per IP and shared by every request we make, so one budget per venue session.
    """

    def __init__(self, limit: float, window: float, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._sleep = sleep
        self._clock = clock
        self._spent: deque[tuple[float, float]] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0

    def spend(self, weight: float = 1.0) -> None:
        with self._lock:
            while True:
                now = self._clock()
                while self._spent and self._spent[0][0] <= now - self.window:
                    self._spent.popleft()
                used = sum(w for _, w in self._spent)
                if used + weight <= self.limit or not self._spent:
                    self._spent.append((now, weight))
                    return
                pause = self._spent[0][0] + self.window - now
                self.waited += pause
                self._sleep(pause)


def _no_connection(exc: requests.exceptions.ConnectionError) -> bool:
    """True when no connection could be made at all (DNS, refused, connect timeout), not a read fault."""
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else exc.args[0] if exc.args else None
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _error_text(response: requests.Response) -> str:
    text = response.text[:300].strip()
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")


class VenueHttp:
    """JSON over HTTP to one venue's base URL, with its retry policy, timeouts and budget.

    `check(payload, endpoint)` is the venue's envelope check (Bybit `retCode`, OKX `code`), run on
    every decoded body; `on_response(response)` lets a venue read its usage headers.
    """

    def __init__(
        self,
        venue: str,
        base_url: str,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        retries: int = 5,
        backoff: float = 0.5,
        backoff_max: float = 60.0,
        budget: RequestBudget | None = None,
        headers: dict[str, str] | None = None,
        check: Callable[[Any, str], None] | None = None,
        on_response: Callable[[requests.Response], None] | None = None,
        hard_stop_statuses: dict[int, str] | None = None,
        secrets: tuple[str, ...] = (),
    ):
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.budget = budget
        self.check = check
        self.on_response = on_response
        self.hard_stop_statuses = {418: "IP banned (HTTP 418)"} | (hard_stop_statuses or {})
        self.requests_made = 0
        self.attempts = retries + 1
        # Secrets (API keys) never reach an error message, a log line or a stored reject: every text
        # taken from a response or an exception passes through _redact.
        self.secrets = [v for v in (headers or {}).values() if v] + list(secrets)
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            allowed_methods=None,  # Every call we make is a read (Hyperliquid reads are POSTs).
            status_forcelist=RETRY_STATUSES,
            backoff_factor=backoff,
            backoff_max=backoff_max,
            backoff_jitter=backoff,
            respect_retry_after_header=True,
            raise_on_status=False,  # The last response comes back, so the error can name it.
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=8)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Accept": "application/json", "User-Agent": "liqlevels/0.1"} | (headers or {}))
        self._body_attempts = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(BrokenBody),
            stop=tenacity.stop_after_attempt(3),
            wait=tenacity.wait_exponential_jitter(multiplier=backoff, max=backoff_max),
            reraise=True,
        )

    def get(self, endpoint: str, params: dict[str, Any] | None = None, weight: float = 1.0) -> Any:
        return self._body_attempts(self._request, "GET", endpoint, params=params, weight=weight)

    def post(self, endpoint: str, body: dict[str, Any], weight: float = 1.0) -> Any:
        return self._body_attempts(self._request, "POST", endpoint, json_body=body, weight=weight)

    def download(self, endpoint: str) -> bytes | None:
        """The raw bytes at `endpoint` (archives), or None on 404 (not published)."""
        return self._body_attempts(self._request, "GET", endpoint, raw=True)

    def close(self) -> None:
        self.session.close()

    def _request(self, method: str, endpoint: str, params=None, json_body=None, weight: float = 1.0, raw: bool = False) -> Any:
        if self.budget is not None:
            self.budget.spend(weight)
        url = self.base_url + endpoint
        self.requests_made += 1
        try:
            response = self.session.request(method, url, params=params, json=json_body, timeout=self.timeout)
        except requests.exceptions.ChunkedEncodingError as exc:
            raise BrokenBody(self.venue, endpoint, f"response body cut short ({exc})") from exc
        except requests.exceptions.RetryError as exc:
            raise ExchangeError(self.venue, endpoint, f"still failing after retries: {self._redact(exc)}") from exc
        except requests.exceptions.ConnectionError as exc:
            if not _no_connection(exc):  # e.g. read timeouts or resets after retries: transient
                raise ExchangeError(self.venue, endpoint, f"failed after retries ({self._redact(exc)})") from exc
            raise VenueUnreachable(self.venue, endpoint, f"cannot connect to {self.base_url} after {self.attempts} attempts "
                                   f"({type(exc).__name__}): no further calls to {self.venue} in this run") from exc
        except requests.exceptions.Timeout as exc:
            raise ExchangeError(self.venue, endpoint, f"timed out after retries ({self._redact(exc)})") from exc
        if self.on_response is not None:
            self.on_response(response)
        status = response.status_code
        if status in self.hard_stop_statuses:
            retry_after = _retry_after(response)
            wait = f"; Retry-After {retry_after:g} s" if retry_after is not None else ""
            body = self._redact(response.text[:120].strip())
            raise RateLimitStop(self.venue, endpoint, f"{self.hard_stop_statuses[status]}{wait}: stopping, not retrying"
                                + (f" (body: {body})" if body else ""), retry_after)
        if raw and status == 404:
            return None
        if status == 429:
            raise ExchangeError(self.venue, endpoint, f"rate limited (HTTP 429) after retries: {self._redact(_error_text(response))}")
        if status >= 400:
            raise ExchangeError(self.venue, endpoint, self._redact(_error_text(response)))
        if raw:
            return response.content
        try:
            payload = json.loads(response.content)
        except ValueError as exc:
            raise BrokenBody(self.venue, endpoint, f"body is not valid JSON ({exc}): {self._redact(response.text[:120])!r}") from exc
        if self.secrets:
            payload = redact_payload(payload, self.secrets)
        if self.check is not None:
            self.check(payload, endpoint)
        return payload

    def _redact(self, text) -> str:
        return redact(str(text), self.secrets)
