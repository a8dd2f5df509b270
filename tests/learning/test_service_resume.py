"""A promotion is never lost on its way to the gateway (routet2i/learning/service.py): a learner
killed, or refused by the gateway, after making a version live and before the gateway reloaded it
reloads it on its next cycle, once."""

from __future__ import annotations

from pathlib import Path

from routet2i.errors import Routet2iError
from routet2i.learning.pair_log import PairLog
from routet2i.learning.versions import RouterVersions
from routet2i.pipeline.shadow_store import DirectoryShadowStore
from tests.learning.test_service import _prompts, _service, _write_pairs


def test_a_live_version_the_gateway_missed_is_reloaded_by_the_next_cycle(tiny_router_dir: Path, tmp_path: Path) -> None:
    _write_pairs(DirectoryShadowStore(tmp_path / "shadow"), _prompts(72))

    def refused(path: Path) -> None:
        raise Routet2iError("the gateway at http://gateway.test refused the reload (503): restarting")

    first = _service(tmp_path, tiny_router_dir, retrain_every=60)
    first.reload = refused
    report = first.cycle()  # the loop goes on: the error is reported, not raised
    assert report.reload_error is not None and "refused the reload" in report.reload_error
    assert RouterVersions(tmp_path / "versions").live() == "v0001"  # live, but not in the gateway
    assert "reloaded" not in PairLog(tmp_path / "versions" / "learner").state()

    reloads: list[Path] = []
    again = _service(tmp_path, tiny_router_dir, reloads, retrain_every=60).cycle()  # the restarted learner
    assert again.new_pairs == 0 and again.retrain is None and again.promoted is None
    assert reloads == [tmp_path / "versions" / "v0001"]
    assert PairLog(tmp_path / "versions" / "learner").state()["reloaded"] == "v0001"
    _service(tmp_path, tiny_router_dir, reloads, retrain_every=60).cycle()
    assert len(reloads) == 1  # the gateway has it: not reloaded again


def test_without_a_gateway_nothing_is_reloaded(tiny_router_dir: Path, tmp_path: Path) -> None:
    _write_pairs(DirectoryShadowStore(tmp_path / "shadow"), _prompts(72))
    report = _service(tmp_path, tiny_router_dir, retrain_every=60).cycle()
    assert report.promoted == "v0001"
    assert "reloaded" not in PairLog(tmp_path / "versions" / "learner").state()
