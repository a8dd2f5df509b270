"""The ledger a gateway's ``budget`` settings ask for."""

from __future__ import annotations

from routet2i.budget_store.settings import BudgetSettings
from routet2i.routing.ledger import BudgetLedger
from routet2i.routing.threshold import Calibration
from routet2i.routing.tiers import Tiers

#: Added to the request deadline for a reservation's TTL (a request settles within its deadline).
TTL_MARGIN_S = 30.0


def build_ledger(
    settings: BudgetSettings, calibration: Calibration | None, tiers: Tiers, *, request_timeout_s: float
) -> BudgetLedger | None:
    """The shared ledger of ``store: redis``; None for ``store: memory`` (the dispatcher's own)."""
    if settings.store == "memory":
        return None
    from routet2i.budget_store.redis_ledger import RedisLedger  # the redis client only where it is used

    ttl = settings.reservation_ttl_s or request_timeout_s + TTL_MARGIN_S
    return RedisLedger(
        settings.policy(),
        calibration,
        tiers,
        url=settings.redis_url,
        password=None if settings.redis_password is None else settings.redis_password.get_secret_value(),
        prefix=settings.key_prefix,
        timeout_s=settings.redis_timeout_s,
        retry_s=settings.redis_retry_s,
        reservation_ttl_s=ttl,
        alpha_max_age_s=settings.alpha_max_age_s,
    )
