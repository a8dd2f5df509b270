"""The gateway's client of one tier on Ray Serve: the :class:`~routet2i.routing.ports.ImageWorker`
protocol over a ``DeploymentHandle``, as :class:`~routet2i.workers.client.WorkerClient` is over HTTP.

``generate`` calls the tier deployment's ``generate`` method (:class:`routet2i.ray_serve.tier.TierWorker`)
with the request, its remaining seconds (the replica's queue drops it once they are spent, as the
``X-Request-Timeout`` header does over HTTP) and the request id; Serve routes the call to the
least-loaded of two sampled replicas and queues it when all are at ``max_ongoing_requests``.
Failures become the typed errors of :mod:`routet2i.workers.errors` (:mod:`routet2i.ray_serve.errors`
has the table): Serve's back-pressure is ``WorkerOverloaded`` with ``retry_after``, so the gateway
answers 429 with ``Retry-After`` exactly as for an HTTP worker's full queue. A call that runs out of
time is cancelled in Serve (a queued one never reaches a replica) and raises ``WorkerTimeout``,
or ``WorkerUnavailable`` when the deployment has no running replica by then (Serve holds requests
for a deployment without replicas instead of refusing them; the gateway's health checks, which
ask the same question, take such a tier out of rotation within ``health.interval_s``).

Readiness comes from the Serve controller (``serve.status()``), not from a call to a replica: a
probe would wait in the same queue as the images, and a busy tier is not a down one. The tier is
ready when its deployment has at least one RUNNING replica; a replica is RUNNING only once its
constructor has loaded (and warmed) the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from ray import serve
from ray.serve.handle import DeploymentHandle, DeploymentResponse

from routet2i.logs import REQUEST_ID
from routet2i.ray_serve.errors import worker_error
from routet2i.workers.client import check_answer
from routet2i.workers.errors import WorkerError, WorkerTimeout, WorkerUnavailable
from routet2i.workers.schemas import GenerateRequest, GenerateResponse

T = TypeVar("T")

#: Retry-After (seconds) for a back-pressure rejection when the deployment's
#: ``backpressure_config.retry_after_s`` names none (the worker queue's own minimum).
DEFAULT_OVERLOAD_RETRY_AFTER_S = 1.0


class ServeTierClient:
    """One tier's deployment, called through ``handle`` (from a replica or from a driver).

    ``tier``: the tier's name (for messages); ``timeout``: default seconds of a :meth:`generate`
    call; ``probe_timeout``: seconds a readiness check may take; ``overload_retry_after``: the
    ``Retry-After`` of a back-pressure rejection that carries none.
    """

    def __init__(
        self,
        handle: DeploymentHandle[Any],
        *,
        tier: str,
        timeout: float = 120.0,
        probe_timeout: float = 5.0,
        overload_retry_after: float = DEFAULT_OVERLOAD_RETRY_AFTER_S,
    ) -> None:
        self.handle = handle
        self.tier = tier
        self.timeout = timeout
        self.probe_timeout = probe_timeout
        self.overload_retry_after = overload_retry_after

    async def generate(self, request: GenerateRequest, *, timeout: float | None = None) -> GenerateResponse:
        """Images for ``request`` within ``timeout`` seconds (default: the client's), or a
        :class:`~routet2i.workers.errors.WorkerError` subclass."""
        seconds = self.timeout if timeout is None else timeout
        response = self.handle.generate.remote(request, seconds, REQUEST_ID.get())
        assert isinstance(response, DeploymentResponse)  # not a streaming handle
        answer = await self._settle(response, seconds)
        if not isinstance(answer, GenerateResponse):
            raise WorkerError(f"the {self.tier} replica answered {type(answer).__name__}, not a GenerateResponse")
        check_answer(answer, request.n)
        return answer

    async def ready(self) -> bool:
        """Whether the tier's deployment has a RUNNING replica (False when Serve cannot say)."""
        return await self.why_not_ready() is None

    async def why_not_ready(self) -> str | None:
        """None when the deployment has a RUNNING replica; else the controller's words for why
        not (still starting, unhealthy, failed to deploy, not deployed)."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._status_reason), self.probe_timeout)
        except asyncio.TimeoutError:
            return f"the Serve controller did not answer within {self.probe_timeout:g} s"
        except Exception as exc:
            return f"the Serve status of the {self.tier} deployment is unknown: {type(exc).__name__}: {exc}"

    async def aclose(self) -> None:
        """Nothing to release: the handle belongs to the replica (or driver) that holds it."""

    # -- plumbing ----------------------------------------------------------------------------

    async def _settle(self, response: DeploymentResponse[Any], seconds: float) -> Any:
        """The response's result within ``seconds``; the request is cancelled in Serve when it
        runs out of time or the caller goes away."""
        try:
            return await asyncio.wait_for(_awaited(response), timeout=max(0.001, seconds))
        except asyncio.TimeoutError:
            response.cancel()  # type: ignore[no-untyped-call]  # ray: unannotated
            # Serve holds a request for a deployment without replicas (deleted, all dead) until
            # its time runs out: that is a tier that is down, not a slow one
            reason = await self.why_not_ready()
            if reason is not None:
                raise WorkerUnavailable(reason) from None
            raise WorkerTimeout(f"the {self.tier} deployment did not answer within {seconds:g} s") from None
        except asyncio.CancelledError:
            response.cancel()  # type: ignore[no-untyped-call]  # ray: unannotated
            raise
        except Exception as exc:
            raise worker_error(exc, tier=self.tier, overload_retry_after=self.overload_retry_after) from exc

    def _status_reason(self) -> str | None:
        """Why the deployment cannot take traffic, per ``serve.status()`` (blocking: a thread)."""
        app_name, name = self.handle.app_name, self.handle.deployment_name
        app = serve.status().applications.get(app_name)
        if app is None:
            return f"the Serve application {app_name!r} is not deployed"
        deployment = app.deployments.get(name)
        if deployment is None:
            return f"the Serve application {app_name!r} has no deployment {name!r}"
        running = sum(n for state, n in deployment.replica_states.items() if _name(state) == "RUNNING")
        if running > 0:
            return None
        detail = f": {deployment.message}" if deployment.message else ""
        return f"the {self.tier} deployment has no running replica ({_name(deployment.status)}){detail}"


async def _awaited(response: Awaitable[T]) -> T:
    return await response


def _name(state: object) -> str:
    """A Serve status enum's name (``RUNNING``), whether given as the enum or its string."""
    return str(getattr(state, "value", state))
