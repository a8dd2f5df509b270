"""API keys shared by the gateway and the workers.

Keys are held as ``SecretStr`` in settings (never in a log or a repr) and compared in constant time:
:func:`hmac.compare_digest` against *every* configured key, with no early exit, so the time taken
tells nothing about which key or how much of it matched.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from pydantic import SecretStr
from starlette.requests import Request


class KeyRing:
    """A set of accepted keys (empty: nothing is configured, and callers decide what that means)."""

    def __init__(self, keys: Sequence[SecretStr]) -> None:
        self._keys = [k.get_secret_value().encode("utf-8") for k in keys if k.get_secret_value()]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def matches(self, presented: str | None) -> bool:
        """Whether ``presented`` equals one of the keys (constant time over all of them)."""
        if presented is None:
            return False
        candidate = presented.encode("utf-8")
        ok = False
        for key in self._keys:
            ok |= hmac.compare_digest(candidate, key)
        return ok

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._keys)} keys)"


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    auth = request.headers.get("authorization")
    if auth is not None and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def client_key(request: Request) -> str | None:
    """A client's key: ``Authorization: Bearer`` (what the OpenAI client sends) or ``X-API-Key``."""
    return bearer_token(request) or request.headers.get("x-api-key")
