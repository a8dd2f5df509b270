"""What a failed call through a Serve ``DeploymentHandle`` means, as the worker's typed errors.

The gateway catches the exceptions of :mod:`routet2i.workers.errors` whatever the transport, so a
tier behind Ray Serve must fail with the same classes as one behind HTTP:

=====================================================  ============================================
Serve / Ray raises                                     the tier client raises
=====================================================  ============================================
``BackPressureError`` (``max_queued_requests`` full)   ``WorkerOverloaded``, ``retry_after`` from the
                                                       deployment's ``backpressure_config`` (or the
                                                       client's default): the gateway's 429
``RayTaskError`` whose cause is a ``WorkerError``      that ``WorkerError`` (the replica's own
                                                       answer: 422, 429 from its queue, 504, ...)
``RayTaskError`` with any other cause                  ``WorkerError`` (500: generation failed)
``DeploymentUnavailableError``,                        ``WorkerUnavailable`` (503: no replica can
``ReplicaUnavailableError``, ``RayActorError`` (a      take it; the gateway's breaker takes the tier
replica died), ``RequestCancelledError``, other        out of rotation)
``RayServeException`` / ``RayError``
``GetTimeoutError``                                    ``WorkerTimeout`` (504)
=====================================================  ============================================
"""

from __future__ import annotations

from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError
from ray.serve.exceptions import BackPressureError, RayServeException

from routet2i.workers.errors import WorkerError, WorkerOverloaded, WorkerTimeout, WorkerUnavailable


def worker_error(exc: BaseException, *, tier: str, overload_retry_after: float) -> WorkerError:
    """The typed worker error for ``exc``, raised by a call to ``tier``'s deployment.
    ``overload_retry_after``: seconds to wait when Serve's back-pressure names none."""
    if isinstance(exc, RayTaskError):
        cause = exc.cause
        if isinstance(cause, WorkerError):
            return cause
        return WorkerError(f"the {tier} replica failed: {type(cause).__name__}: {cause}")
    if isinstance(exc, WorkerError):
        return exc
    if isinstance(exc, BackPressureError):
        retry_after = exc.retry_after_s if exc.retry_after_s is not None else overload_retry_after
        return WorkerOverloaded(f"the {tier} deployment is at capacity: {exc.message}", retry_after=retry_after)
    if isinstance(exc, GetTimeoutError):
        return WorkerTimeout(f"the {tier} deployment did not answer in time: {exc}")
    if isinstance(exc, RayActorError):
        return WorkerUnavailable(f"the {tier} replica died: {type(exc).__name__}: {exc}")
    if isinstance(exc, (RayServeException, RayError)):
        return WorkerUnavailable(f"the {tier} deployment cannot serve: {type(exc).__name__}: {exc}")
    return WorkerError(f"calling the {tier} deployment failed: {type(exc).__name__}: {exc}")
