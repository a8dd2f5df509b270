"""The worker's API keys (``security.api_keys``): who may generate.

A caller presents a key as ``Authorization: Bearer <key>`` (what the gateway sends from
``tiers.<tier>.api_key``) or ``X-API-Key``. Every configured key is compared with
:func:`hmac.compare_digest` (constant time, no early exit); keys are ``SecretStr`` in the settings
and never logged. No key configured: everything is accepted.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from pydantic import SecretStr
from starlette.requests import Request

from routet2i.workers.errors import WorkerUnauthorized


class WorkerKeys:
    """The accepted keys (empty: no authentication)."""

    def __init__(self, keys: Sequence[SecretStr]) -> None:
        self._keys = [k.get_secret_value().encode("utf-8") for k in keys if k.get_secret_value()]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def matches(self, presented: str | None) -> bool:
        if presented is None:
            return False
        candidate = presented.encode("utf-8")
        ok = False
        for key in self._keys:
            ok |= hmac.compare_digest(candidate, key)
        return ok

    def check(self, request: Request) -> None:
        """Raise :class:`WorkerUnauthorized` (401) unless the request carries an accepted key."""
        if not self.enabled:
            return
        auth = request.headers.get("authorization")
        key = (
            auth[7:].strip() if auth is not None and auth[:7].lower() == "bearer " else request.headers.get("x-api-key")
        )
        if not self.matches(key):
            raise WorkerUnauthorized("missing or invalid API key (send Authorization: Bearer <key> or X-API-Key)")

    def __repr__(self) -> str:
        return f"WorkerKeys({len(self._keys)} keys)"
