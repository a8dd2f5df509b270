"""A promotion reaches a running gateway over a real socket: the learner writes the version and
reloads the gateway with the product's HTTP reloader; ``/v1/router`` then names the new version
and ``/v1/route`` answers with its corrected PRŜ."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from routet2i.errors import Routet2iError
from routet2i.gateway.app import create_app
from routet2i.learning.command_learn import gateway_reloader
from routet2i.learning.learner import LearnerPolicy
from routet2i.learning.service import LearnService
from routet2i.learning.versions import RouterVersions
from routet2i.pipeline.shadow_store import DirectoryShadowStore
from routet2i.predictor.inference import CheckpointPredictor
from tests.gateway.conftest import gateway_settings
from tests.gateway.doubles import FakeWorker
from tests.learning.test_service import _prompts, _write_pairs, keyword_scorer
from tests.workers.harness import ServerThread, wait_ready

ADMIN_KEY = "learn-admin-key"


def test_a_promoted_version_is_live_in_the_gateway(tiny_router_dir: Path, tmp_path: Path) -> None:
    settings = gateway_settings(
        router={"checkpoint": str(tiny_router_dir), "device": "cpu"}, security={"admin_key": ADMIN_KEY}
    )
    base = CheckpointPredictor(tiny_router_dir, device="cpu")
    edge, cloud = FakeWorker("tiny-edge"), FakeWorker("tiny-cloud")
    app = create_app(settings, engine=base, workers={"edge": edge.client(), "cloud": cloud.client()})
    _write_pairs(DirectoryShadowStore(tmp_path / "shadow"), _prompts(72))
    versions = RouterVersions(tmp_path / "versions")
    with ServerThread(app) as server:
        wait_ready(server.url)
        assert httpx.get(f"{server.url}/v1/router").json()["checkpoint"] == str(tiny_router_dir)
        service = LearnService(
            store=tmp_path / "shadow",
            versions=versions,
            base=tiny_router_dir,
            scorer=keyword_scorer,
            policy=LearnerPolicy(retrain_every=60),
            reload=gateway_reloader(server.url, ADMIN_KEY),
        )
        report = service.cycle()
        assert report.promoted == "v0001"
        live = httpx.get(f"{server.url}/v1/router").json()
        assert live["checkpoint"] == str(versions.path("v0001"))
        assert live["reloads"]["last"]["outcome"] == "success" and live["reloads"]["last"]["source"] == "admin"
        prompts = _prompts(8)
        routed = httpx.post(f"{server.url}/v1/route", json={"prompts": prompts}).json()
    expected, _ = CheckpointPredictor(versions.path("v0001"), encoder=base.encoder).scores(prompts)
    assert [d["prs"] for d in routed["decisions"]] == pytest.approx(expected.tolist(), abs=1e-5)


def test_a_refused_reload_is_an_error_naming_the_gateway(tiny_router_dir: Path, tmp_path: Path) -> None:
    settings = gateway_settings(
        router={"checkpoint": str(tiny_router_dir), "device": "cpu"}, security={"admin_key": ADMIN_KEY}
    )
    app = create_app(
        settings,
        engine=CheckpointPredictor(tiny_router_dir),
        workers={"edge": FakeWorker("e").client(), "cloud": FakeWorker("c").client()},
    )
    with ServerThread(app) as server:
        wait_ready(server.url)
        with pytest.raises(Routet2iError, match=r"refused the reload \(401\)"):
            gateway_reloader(server.url, "wrong-key")(tiny_router_dir)
