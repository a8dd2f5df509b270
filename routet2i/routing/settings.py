"""The routing core's settings blocks: one tier, the override rules, the health checks.

These are the domain's own types; the gateway's settings (:mod:`routet2i.gateway.settings`)
compose them with the budget policy (:class:`~routet2i.routing.budget.BudgetPolicy`) as they are,
so each field is declared once. Times are seconds; sizes are pixels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from routet2i.config import StrictModel
from routet2i.routing.breaker import BreakerPolicy
from routet2i.routing.budget import BudgetPolicy
from routet2i.routing.price import Price
from routet2i.routing.shadow import ShadowPolicy
from routet2i.routing.tiers import Tiers
from routet2i.types import TierName


class TierOptions(StrictModel):
    """One tier: where its worker (or its workers' replicas) are and what it costs."""

    #: Base URL of the worker (``POST {url}/v1/generate``). With ``urls`` given: the first of them.
    url: str = "http://127.0.0.1:8001"
    #: Base URLs of several replicas of the tier's worker (instead of ``url``; give one or the
    #: other). The gateway balances them by least outstanding requests, checks each one's health
    #: and takes a failing one out with a circuit breaker of its own; the tier is down only when
    #: all of them are. From the environment: a JSON list,
    #: ``ROUTET2I_GATEWAY_TIERS__EDGE__URLS='["http://a:8001","http://b:8001"]'``, which replaces
    #: the config file's ``url`` of that tier (within one file or mapping, both is an error).
    urls: list[str] | None = None
    #: The model name clients may put in OpenAI's ``model`` to force this tier; also shown in
    #: ``/v1/models``.
    model: str = "edge-model"
    #: Longest wait for one image request to this tier (the request deadline may cut it shorter).
    timeout_s: float = Field(default=120.0, gt=0)
    #: Key sent to the worker as ``Authorization: Bearer`` (never logged; the same for every replica).
    api_key: SecretStr | None = None
    price: Price = Field(default_factory=Price)
    #: Size (pixels) filled in when a request sent to this tier gives none; null = the gateway's
    #: ``limits.default_width`` / ``limits.default_height``. Also the size its price is quoted at.
    default_width: int | None = Field(default=None, ge=8)
    default_height: int | None = Field(default=None, ge=8)

    @model_validator(mode="before")
    @classmethod
    def _url_or_urls(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        urls = data.get("urls")
        # ``url: null`` clears a url; so does ``urls`` from the environment (a JSON string there),
        # which overrides the config file's ``url`` as the environment overrides the file
        if "url" in data and (data["url"] is None or isinstance(urls, str)):
            data = {k: v for k, v in data.items() if k != "url"}
        if data.get("url") is not None and urls is not None:
            raise ValueError(
                f"give url or urls, not both (url={data['url']!r}, urls={urls!r}); "
                "to replace a url with urls, set url to null"
            )
        return data

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value, "url")

    @field_validator("urls", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment: a JSON list
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError(f"urls {value!r} must be a list of URLs (JSON from the environment)") from None
        return value

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("urls must name at least one URL (or leave it out and give url)")
        urls = [_http_url(url, f"urls[{i}]") for i, url in enumerate(value)]
        repeated = sorted({url for url in urls if urls.count(url) > 1})
        if repeated:
            raise ValueError(f"urls names {repeated} more than once")
        return urls

    @model_validator(mode="after")
    def _first_url(self) -> TierOptions:
        if self.urls is not None:
            self.url = self.urls[0]
        return self

    @property
    def replica_urls(self) -> list[str]:
        """The base URLs of the tier's worker replicas (``urls``, or ``[url]``), in config order."""
        return list(self.urls) if self.urls is not None else [self.url]


def _http_url(value: str, name: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{name} {value!r} must start with http:// or https://")
    return value.rstrip("/")


#: The built-in options of the two default tiers (used for whichever of them a config leaves out).
DEFAULT_TIER_OPTIONS: Mapping[TierName, dict[str, object]] = {
    "edge": {"url": "http://127.0.0.1:8001", "model": "sd-turbo"},
    "cloud": {"url": "http://127.0.0.1:8002", "model": "sdxl", "timeout_s": 300.0},
}


class RoutingOptions(StrictModel):
    """How the decision may be overridden."""

    #: Tiers a caller may force with ``route`` (native API) or ``model`` (OpenAI API); null = all.
    allow_forced: list[TierName] | None = None
    #: A forced cloud request when the cloud budget is spent: ``reject`` (429) or serve it on the
    #: ``edge`` (the cheap tier; reason ``budget_cap``).
    forced_over_budget: Literal["reject", "edge"] = "reject"
    #: Send a request to the other tier when its tier is down or fails (the cloud only where the
    #: budget allows). Forced requests never fall back.
    fallback: bool = True


class HealthOptions(BreakerPolicy):
    """Periodic health checks, and the circuit breaker of each tier (:class:`BreakerPolicy`)."""

    interval_s: float = Field(default=5.0, gt=0)
    #: Timeout of one health check.
    timeout_s: float = Field(default=2.0, gt=0)

    def breaker_policy(self) -> BreakerPolicy:
        return BreakerPolicy.model_validate(self.model_dump(include=set(BreakerPolicy.model_fields)))


@dataclass(frozen=True)
class DispatchConfig:
    """Everything the dispatcher is configured with (the gateway's settings build it)."""

    #: The tiers' options, cheapest first.
    tiers: Mapping[TierName, TierOptions]
    #: (width, height) sent to each tier when a request gives no size.
    default_sizes: Mapping[TierName, tuple[int, int]]
    routing: RoutingOptions
    budget: BudgetPolicy
    health: HealthOptions
    #: Deadline of a whole request (routing, worker, fallback).
    request_timeout_s: float = 300.0
    #: Generation requests in flight at once; more are refused (429).
    max_in_flight: int = 512
    #: Most prompts in one router batch, and how long a batch waits for company (ms).
    max_batch: int = 64
    max_wait_ms: float = 2.0
    #: Predictions kept by normalised prompt (LRU; 0: no cache).
    cache_size: int = 10_000
    #: Which served requests are also made on the other tier (shadow pairs; off by default).
    shadow: ShadowPolicy = field(default_factory=ShadowPolicy)

    @property
    def tier_names(self) -> Tiers:
        return Tiers.of(self.tiers)

    def forcible(self) -> list[TierName]:
        """The tiers a caller may force."""
        allowed = self.routing.allow_forced
        return list(self.tiers) if allowed is None else [t for t in self.tiers if t in allowed]
