"""Per-tier default sizes: a request without a size gets the size of the tier that serves it."""

from __future__ import annotations

from typing import Any

import pytest

from routet2i.errors import ConfigError
from routet2i.gateway.settings import GatewaySettings
from tests.gateway.conftest import MakeGateway

# low PRŜ → the cloud, high → the edge (FakeEngine; threshold 0.5 at cloud_share 0.5)
CLOUD_PROMPT, EDGE_PROMPT = "prs=0.1 a fox", "prs=0.9 a fox"


def _tiers(**cloud_price: float) -> dict[str, Any]:
    return {
        "edge": {
            "url": "http://edge.test",
            "model": "tiny-edge",
            "timeout_s": 5,
            "default_width": 256,
            "default_height": 384,
        },
        "cloud": {
            "url": "http://cloud.test",
            "model": "tiny-cloud",
            "timeout_s": 5,
            "default_width": 1024,
            "default_height": 768,
            "price": {"per_image": 0.02, **cloud_price},
        },
    }


def _sent(worker: Any) -> tuple[int, int]:
    body = worker.requests[-1]
    return body["width"], body["height"]


def test_no_size_gets_the_serving_tiers_default(make_gateway: MakeGateway) -> None:
    with make_gateway(tiers=_tiers()) as gw:
        r = gw.client.post("/generate", json={"prompt": CLOUD_PROMPT})
        assert r.status_code == 200 and r.json()["routing"]["tier"] == "cloud"
        assert _sent(gw.cloud) == (1024, 768)
        r = gw.client.post("/generate", json={"prompt": EDGE_PROMPT})
        assert r.status_code == 200 and r.json()["routing"]["tier"] == "edge"
        assert _sent(gw.edge) == (256, 384)
        # the OpenAI API without `size` (or size=auto) too, and it reports the size sent
        r = gw.client.post("/v1/images/generations", json={"prompt": CLOUD_PROMPT, "model": "auto"})
        assert r.status_code == 200 and r.json()["size"] == "1024x768" and _sent(gw.cloud) == (1024, 768)
        r = gw.client.post("/v1/images/generations", json={"prompt": EDGE_PROMPT, "size": "auto"})
        assert r.status_code == 200 and r.json()["size"] == "256x384" and _sent(gw.edge) == (256, 384)


def test_a_tier_without_defaults_uses_the_limits_default(make_gateway: MakeGateway) -> None:
    tiers = _tiers()
    del tiers["edge"]["default_width"], tiers["edge"]["default_height"]
    with make_gateway(tiers=tiers) as gw:
        gw.client.post("/generate", json={"prompt": EDGE_PROMPT, "route": "edge"})
        limits = gw.settings.limits
        assert _sent(gw.edge) == (limits.default_width, limits.default_height)


def test_a_given_size_is_sent_unchanged_to_either_tier(make_gateway: MakeGateway) -> None:
    with make_gateway(tiers=_tiers()) as gw:
        for prompt, worker in ((CLOUD_PROMPT, gw.cloud), (EDGE_PROMPT, gw.edge)):
            r = gw.client.post("/generate", json={"prompt": prompt, "width": 320, "height": 640})
            assert r.status_code == 200 and _sent(worker) == (320, 640)
            r = gw.client.post("/v1/images/generations", json={"prompt": prompt, "size": "512x448"})
            assert r.status_code == 200 and r.json()["size"] == "512x448" and _sent(worker) == (512, 448)
        # one side given: the other is the serving tier's default
        gw.client.post("/generate", json={"prompt": CLOUD_PROMPT, "width": 512})
        assert _sent(gw.cloud) == (512, 768)


def test_bad_given_sizes_still_name_their_field(make_gateway: MakeGateway) -> None:
    with make_gateway(tiers=_tiers()) as gw:
        r = gw.client.post("/generate", json={"prompt": CLOUD_PROMPT, "height": 1000 + 4})
        assert r.status_code in (400, 422) and r.json()["error"]["field"] == "height"
        r = gw.client.post("/v1/images/generations", json={"prompt": CLOUD_PROMPT, "size": "2048x2048"})
        assert r.status_code in (400, 422) and r.json()["error"]["field"] == "size"
        assert gw.cloud.calls == 0


def test_a_fallback_uses_the_fallback_tiers_default(make_gateway: MakeGateway) -> None:
    with make_gateway(tiers=_tiers(), cloud_mode="overloaded") as gw:
        r = gw.client.post("/generate", json={"prompt": CLOUD_PROMPT})
        routing = r.json()["routing"]
        assert (routing["tier"], routing["fallback_from"]) == ("edge", "cloud")
        assert _sent(gw.cloud) == (1024, 768) and _sent(gw.edge) == (256, 384)
    with make_gateway(tiers=_tiers(), edge_mode="unavailable") as gw:
        r = gw.client.post("/v1/images/generations", json={"prompt": EDGE_PROMPT})
        assert r.json()["routet2i"]["tier"] == "cloud" and r.json()["size"] == "1024x768"
        assert _sent(gw.edge) == (256, 384) and _sent(gw.cloud) == (1024, 768)
    # a given size survives the fallback
    with make_gateway(tiers=_tiers(), cloud_mode="overloaded") as gw:
        gw.client.post("/generate", json={"prompt": CLOUD_PROMPT, "width": 320, "height": 320})
        assert _sent(gw.edge) == (320, 320)


def test_the_budget_prices_the_size_sent_to_the_tier(make_gateway: MakeGateway) -> None:
    # 0.1 per megapixel on the cloud: 1024x768 = 0.786432 MP; the limits' 512x512 would be 0.262144
    with make_gateway(
        tiers=_tiers(per_image=0.0, per_megapixel=0.1),
        budget={"cloud_share": 0.5, "window": 100, "warmup": 1000, "money_per_period": 1e9},
    ) as gw:
        gw.client.post("/generate", json={"prompt": CLOUD_PROMPT})
        assert gw.client.get("/v1/budget").json()["spent_in_period"] == pytest.approx(0.1 * 1024 * 768 / 1e6)
        gw.client.post("/generate", json={"prompt": CLOUD_PROMPT, "width": 512, "height": 512})
        spent = gw.client.get("/v1/budget").json()["spent_in_period"]
        assert spent == pytest.approx(0.1 * (1024 * 768 + 512 * 512) / 1e6)


def test_tier_defaults_must_fit_the_limits() -> None:
    with pytest.raises(ConfigError, match=r"tiers\.cloud\.default_width 1004"):
        GatewaySettings.load(None, tiers={"cloud": {"model": "c", "default_width": 1004}})
    with pytest.raises(ConfigError, match=r"tiers\.edge\.default_height 2048"):
        GatewaySettings.load(None, tiers={"edge": {"model": "e", "default_height": 2048}})


def test_shipped_config_gives_the_cloud_1024_and_the_edge_the_limits_default() -> None:
    settings = GatewaySettings.load(None)
    assert settings.default_size("cloud") == (1024, 1024)
    assert (
        settings.default_size("edge") == (settings.limits.default_width, settings.limits.default_height) == (512, 512)
    )
