"""Without a cluster: the shipped Serve config, ``--demo``'s rewrite of it, the application's
args, Serve's failures as the worker's typed errors, and the ``routet2i ray`` command's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from ray.exceptions import ActorDiedError, GetTimeoutError, RayTaskError
from ray.serve.exceptions import BackPressureError, RequestCancelledError

from routet2i.cli import main
from routet2i.config import read_yaml
from routet2i.gateway.settings import GatewaySettings
from routet2i.ray_serve.app import RayAppArgs, gateway_settings, worker_settings
from routet2i.ray_serve.deploy import DEMO_NUM_CPUS, IMPORT_PATH, load_config
from routet2i.ray_serve.errors import worker_error
from routet2i.workers.errors import (
    WorkerBadRequest,
    WorkerError,
    WorkerOverloaded,
    WorkerTimeout,
    WorkerUnavailable,
)

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "ray" / "serve.yaml"


def test_the_shipped_config_is_a_serve_config_for_the_gateway_and_its_tiers() -> None:
    config = load_config(SHIPPED)
    (app,) = config.applications
    assert app.import_path == IMPORT_PATH and app.route_prefix == "/"
    args = RayAppArgs.model_validate(app.args)
    settings = gateway_settings(args.gateway)
    deployments = {d.name: d for d in app.deployments}
    # one deployment per gateway tier (named after it) and the ingress, named as build_app names them
    assert set(deployments) == {"gateway", *settings.tiers.names}
    assert set(args.tiers) == set(settings.tiers.names)
    for tier in settings.tiers.names:
        worker = worker_settings(tier, args.tiers[tier])
        d = deployments[tier]
        assert d.ray_actor_options is not None and (d.ray_actor_options.num_gpus or 0) >= 0.5
        assert d.max_ongoing_requests >= 2 * worker.batching.max_batch_images
        assert worker.queue.max_pending >= d.max_ongoing_requests
        assert d.autoscaling_config is not None and d.autoscaling_config["target_ongoing_requests"] > 0
        assert d.backpressure_config is not None and d.backpressure_config.status_code == 429
        assert (d.backpressure_config.retry_after_s or 0) > 0
    assert deployments["gateway"].num_replicas == 1  # > 1 only with the shared budget
    text = SHIPPED.read_text(encoding="utf-8")
    assert "budget.store: redis" in text


def test_demo_runs_the_tiny_pipelines_on_cpu_shares() -> None:
    config = load_config(SHIPPED, demo=True, host="127.0.0.1", port=8123)
    (app,) = config.applications
    assert app.args["demo"] is True
    for d in app.deployments:
        assert d.ray_actor_options is not None
        assert d.ray_actor_options.num_gpus == 0 and d.ray_actor_options.num_cpus == DEMO_NUM_CPUS
    assert (config.http_options.host, config.http_options.port) == ("127.0.0.1", 8123)
    assert read_yaml(SHIPPED)["applications"][0]["args"].get("demo") is None  # the file is untouched


def test_args_take_files_packaged_names_or_mappings(tmp_path: Path) -> None:
    assert isinstance(gateway_settings(None), GatewaySettings)
    assert worker_settings("edge", "edge-sd-turbo.yaml").model == "stabilityai/sd-turbo"
    inline = worker_settings("edge", {"model": "some/model", "name": "inline"})
    assert inline.model_name == "inline"
    with pytest.raises(Exception, match="unknown_field"):
        RayAppArgs.model_validate({"unknown_field": 1})


def test_serve_failures_are_the_workers_typed_errors() -> None:
    overloaded = worker_error(BackPressureError(3, 2, 429, 7.0), tier="edge", overload_retry_after=1.0)
    assert isinstance(overloaded, WorkerOverloaded) and overloaded.retry_after == 7.0 and overloaded.status == 429
    default = worker_error(BackPressureError(3, 2), tier="edge", overload_retry_after=1.5)
    assert isinstance(default, WorkerOverloaded) and default.retry_after == 1.5
    cause = WorkerBadRequest("width too large", field="width")
    wrapped = RayTaskError("generate", "traceback", cause)
    assert worker_error(wrapped, tier="edge", overload_retry_after=1.0) is cause
    crashed = worker_error(RayTaskError("generate", "tb", ValueError("boom")), tier="edge", overload_retry_after=1)
    assert type(crashed) is WorkerError and crashed.status == 500
    assert isinstance(worker_error(ActorDiedError(), tier="edge", overload_retry_after=1), WorkerUnavailable)
    assert isinstance(worker_error(RequestCancelledError("r1"), tier="edge", overload_retry_after=1), WorkerUnavailable)
    assert isinstance(worker_error(GetTimeoutError("late"), tier="edge", overload_retry_after=1), WorkerTimeout)


def test_the_command_refuses_a_missing_config_and_a_detached_local_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert main(["ray", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "Serve config not found" in capsys.readouterr().err
    assert main(["ray", "--config", str(SHIPPED), "--detach"]) == 2
    assert "--detach needs a cluster" in capsys.readouterr().err
