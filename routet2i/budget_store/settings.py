"""The gateway's ``budget`` settings block: the policy (:class:`~routet2i.routing.budget.BudgetPolicy`,
which ``PUT /v1/budget`` changes at run time) and where the budget is kept.

``store: memory`` (the default) keeps it in the gateway process: one gateway, one budget.
``store: redis`` keeps it in Redis (:mod:`routet2i.budget_store.redis_ledger`) so several gateway
replicas share one window and one money period. The password comes from the environment only
(``ROUTET2I_GATEWAY_BUDGET__REDIS_PASSWORD``): a config file that sets it and a URL holding one
are refused, so no secret ends up in a config file.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from routet2i.routing.budget import BudgetPolicy

#: Where the budget is kept.
BudgetStore = Literal["memory", "redis"]


class BudgetSettings(BudgetPolicy):
    """The budget policy and its store. Times are seconds."""

    store: BudgetStore = "memory"
    #: ``redis://host:port/db`` (``rediss://`` for TLS); no password in it.
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: From the environment only (``ROUTET2I_GATEWAY_BUDGET__REDIS_PASSWORD``); never logged.
    redis_password: SecretStr | None = None
    #: Prefix of every key, so several deployments can share one Redis.
    key_prefix: str = Field(default="routet2i", min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    #: Longest wait for one Redis step (connect, or a script); past it the ledger fails closed.
    redis_timeout_s: float = Field(default=0.25, gt=0, le=10)
    #: How long the ledger stays closed after a failure before it tries Redis again.
    redis_retry_s: float = Field(default=1.0, gt=0, le=60)
    #: Oldest reading of the shared state α may come from (0: read before every decision,
    #: two more round trips, exact). The caps are always tested on the live state.
    alpha_max_age_s: float = Field(default=1.0, ge=0, le=60)
    #: How long a reservation stays open without being settled (its gateway died): then it
    #: counts as spent at its quoted cost and is gone. null = the request deadline + 30 s.
    reservation_ttl_s: float | None = Field(default=None, gt=0)

    @field_validator("redis_url")
    @classmethod
    def _no_password(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"redis_url {value!r} must start with redis://, rediss:// or unix://")
        if parts.password:
            raise ValueError(
                "redis_url must not hold a password: set ROUTET2I_GATEWAY_BUDGET__REDIS_PASSWORD in the environment"
            )
        return value

    @model_validator(mode="after")
    def _password_only_for_redis(self) -> BudgetSettings:
        if self.redis_password is not None and self.store != "redis":
            raise ValueError("redis_password is set but budget.store is not redis")
        return self

    def policy(self) -> BudgetPolicy:
        """The policy part alone (what the ledgers and ``PUT /v1/budget`` work with)."""
        return BudgetPolicy.model_validate(self.model_dump(include=set(BudgetPolicy.model_fields)))
