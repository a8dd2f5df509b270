"""API keys: client keys for the API, an operator key for run-time budget changes.

Keys are compared in constant time (:func:`hmac.compare_digest`, against every configured key,
no early exit) and held as ``SecretStr`` so they never reach a log or a repr. A client presents
its key as ``Authorization: Bearer <key>`` (what the OpenAI client sends) or ``X-API-Key``; the
operator as ``X-Admin-Key`` or ``Authorization: Bearer``.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from pydantic import SecretStr
from starlette.requests import Request

from routet2i.gateway.errors import Forbidden, Unauthorized


class KeyRing:
    """A set of accepted keys (empty: everything is accepted)."""

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

    def __repr__(self) -> str:
        return f"KeyRing({len(self._keys)} keys)"


def bearer_token(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth is not None and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def check_client(request: Request, ring: KeyRing) -> None:
    """Raise 401 unless the request carries an accepted client key (or none is configured)."""
    if not ring.enabled:
        return
    key = bearer_token(request) or request.headers.get("x-api-key")
    if not ring.matches(key):
        raise Unauthorized("missing or invalid API key (send Authorization: Bearer <key> or X-API-Key)")


def check_admin(request: Request, ring: KeyRing) -> None:
    """Raise 403 when operator changes are disabled, 401 without the operator key."""
    if not ring.enabled:
        raise Forbidden("run-time budget changes are disabled: configure security.admin_key")
    key = request.headers.get("x-admin-key") or bearer_token(request)
    if not ring.matches(key):
        raise Unauthorized("missing or invalid admin key (send X-Admin-Key: <key>)")
