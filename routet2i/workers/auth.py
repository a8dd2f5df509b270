"""The worker's API keys (``security.api_keys``): who may generate.

A caller presents a key as ``Authorization: Bearer <key>`` (what the gateway sends from
``tiers.<tier>.api_key``) or ``X-API-Key``. Every configured key is compared with
:func:`hmac.compare_digest` (constant time, no early exit); keys are ``SecretStr`` in the settings
and never logged. No key configured: everything is accepted.
"""

from __future__ import annotations

from starlette.requests import Request

from routet2i.keys import KeyRing, client_key
from routet2i.workers.errors import WorkerUnauthorized


class WorkerKeys(KeyRing):
    """The accepted keys (empty: no authentication)."""

    def check(self, request: Request) -> None:
        """Raise :class:`WorkerUnauthorized` (401) unless the request carries an accepted key."""
        if self.enabled and not self.matches(client_key(request)):
            raise WorkerUnauthorized("missing or invalid API key (send Authorization: Bearer <key> or X-API-Key)")
