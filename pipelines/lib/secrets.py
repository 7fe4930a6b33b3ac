"""Secrets (API keys) come from the environment only and never reach a log line, an error message,
the event log or a stored row: every body or text taken from outside passes through `redact`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

REDACTED = "<redacted>"
SECRET_SUFFIXES = ("_API_KEY", "_SECRET", "_TOKEN", "_PASSWORD")
MIN_SECRET_LENGTH = 4  # shorter values would blank ordinary text


def configured_secrets(env: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """Values of every environment variable that holds a secret (…_API_KEY, …_SECRET, …_TOKEN, …_PASSWORD)."""
    return tuple(v for k, v in env.items() if k.upper().endswith(SECRET_SUFFIXES) and len(v or "") >= MIN_SECRET_LENGTH)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every secret value (and its URL-encoded form) replaced by <redacted>."""
    for secret in configured_secrets() if secrets is None else secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED).replace(quote(secret, safe=""), REDACTED)
    return text


def redact_payload(payload: Any, secrets: Iterable[str]) -> Any:
    """A decoded JSON body with secrets removed from every string in it (a body that echoes the key)."""
    secrets = tuple(secrets)
    if isinstance(payload, str):
        return redact(payload, secrets)
    if isinstance(payload, list):
        return [redact_payload(v, secrets) for v in payload]
    if isinstance(payload, dict):
        return {(redact(k, secrets) if isinstance(k, str) else k): redact_payload(v, secrets) for k, v in payload.items()}
    return payload
