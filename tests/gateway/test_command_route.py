"""``routet2i route`` and ``calibrate`` default to the gateway's budget, so they and a freshly
started gateway decide alike (the shipped router and configs/gateway.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from routet2i.cli import main
from routet2i.config import CONFIG_DIR, read_yaml
from routet2i.gateway.app import create_app
from routet2i.gateway.command_calibrate import default_budgets
from routet2i.gateway.loading import product_loader
from routet2i.gateway.settings import GatewaySettings
from tests.gateway.doubles import FakeWorker


def _gateway_yaml(tmp_path: Path, cloud_share: float | None) -> Path:
    """The shipped gateway.yaml with another budget."""
    data = read_yaml(CONFIG_DIR / "gateway.yaml")
    data["budget"]["cloud_share"] = cloud_share
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


PROMPTS = ["a cat", "a red cube on top of a blue sphere next to three green cones"]


def _cli_lines(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(["route", *PROMPTS, *args]) == 0
    out = capsys.readouterr()
    assert "Loading weights" not in out.err, "no progress bar for an instant model load"
    return [json.loads(line) for line in out.out.splitlines()]


def test_cli_and_gateway_agree_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    settings = GatewaySettings.load(CONFIG_DIR / "gateway.yaml")
    assert settings.budget.cloud_share == 0.3  # the shipped budget this test is about
    engine = product_loader(settings)(settings.router.checkpoint)
    workers = {"edge": FakeWorker("e").client(), "cloud": FakeWorker("c").client()}
    with TestClient(create_app(settings, engine=engine, workers=workers)) as client:
        served = client.post("/v1/route", json={"prompts": PROMPTS}).json()["decisions"]
    cli = _cli_lines(capsys)
    assert [line["tier"] for line in cli] == [d["tier"] for d in served]
    assert cli[0]["threshold"] == pytest.approx(served[0]["threshold"])
    assert cli[0]["threshold"] < 0.5, "the shipped budget's calibrated α, not the no-budget 0.5"
    # with no budget the rule is the bare 0.5: "a cat" goes to the cloud (PRŜ < 0.5) — the old default
    no_budget = _cli_lines(capsys, "--threshold", "0.5")
    assert no_budget[0]["tier"] == "cloud" != cli[0]["tier"]


def test_cli_reads_another_gateway_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _cli_lines(capsys, "--config", str(_gateway_yaml(tmp_path, None)))
    assert {line["threshold"] for line in lines} == {0.5}


def test_calibrate_defaults_include_the_gateway_share(tmp_path: Path) -> None:
    assert default_budgets(str(_gateway_yaml(tmp_path, 0.25))) == [0.1, 0.2, 0.25, 0.3, 0.4, 0.5]
    assert default_budgets(None) == [0.1, 0.2, 0.3, 0.4, 0.5]
