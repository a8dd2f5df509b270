"""Shared API-key ring: matching, disabled when empty, never showing a key."""

from __future__ import annotations

from pydantic import SecretStr
from starlette.requests import Request

from routet2i.keys import KeyRing, bearer_token, client_key


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


def test_ring_matches_any_configured_key_and_hides_them() -> None:
    ring = KeyRing([SecretStr("alpha"), SecretStr("beta"), SecretStr("")])
    assert ring.enabled
    assert ring.matches("alpha") and ring.matches("beta")
    assert not ring.matches("alph") and not ring.matches("") and not ring.matches(None)
    assert "alpha" not in repr(ring) and "2 keys" in repr(ring)
    assert not KeyRing([]).enabled and not KeyRing([]).matches("alpha")


def test_keys_are_read_from_bearer_or_x_api_key() -> None:
    assert bearer_token(_request({"Authorization": "Bearer  k1 "})) == "k1"
    assert bearer_token(_request({"Authorization": "Basic k1"})) is None
    assert client_key(_request({"X-API-Key": "k2"})) == "k2"
    assert client_key(_request({"Authorization": "bearer k1", "X-API-Key": "k2"})) == "k1"
    assert client_key(_request({})) is None
