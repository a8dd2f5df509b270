"""API keys: client keys for the API, an operator key for run-time budget changes.

Keys are compared in constant time (:func:`hmac.compare_digest`, against every configured key,
no early exit) and held as ``SecretStr`` so they never reach a log or a repr. A client presents
its key as ``Authorization: Bearer <key>`` (what the OpenAI client sends) or ``X-API-Key``; the
operator as ``X-Admin-Key`` or ``Authorization: Bearer``.
"""

from __future__ import annotations

from starlette.requests import Request

from routet2i.gateway.errors import Forbidden, Unauthorized
from routet2i.keys import KeyRing, bearer_token, client_key

__all__ = ["KeyRing", "check_admin", "check_client"]


def check_client(request: Request, ring: KeyRing) -> None:
    """Raise 401 unless the request carries an accepted client key (or none is configured)."""
    if not ring.enabled:
        return
    if not ring.matches(client_key(request)):
        raise Unauthorized("missing or invalid API key (send Authorization: Bearer <key> or X-API-Key)")


def check_admin(request: Request, ring: KeyRing) -> None:
    """Raise 403 when operator changes are disabled, 401 without the operator key."""
    if not ring.enabled:
        raise Forbidden("run-time budget changes are disabled: configure security.admin_key")
    key = request.headers.get("x-admin-key") or bearer_token(request)
    if not ring.matches(key):
        raise Unauthorized("missing or invalid admin key (send X-Admin-Key: <key>)")
