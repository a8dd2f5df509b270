"""The async client the gateway uses to talk to a worker.

One :class:`WorkerClient` per worker, shared by all requests (a pooled ``httpx.AsyncClient``)::

    async with WorkerClient("http://edge:8001") as worker:
        response = await worker.generate(GenerateRequest(prompt="a red fox", seed=7), timeout=30)

Every HTTP error becomes one of the typed exceptions of :mod:`routet2i.workers.errors`
(WorkerBadRequest, WorkerOverloaded with ``retry_after``, WorkerUnavailable, WorkerTimeout,
WorkerUpstreamError, WorkerError). The per-call timeout is also sent as ``X-Request-Timeout``, so
the worker drops a request it cannot start in time instead of generating an image nobody reads.
The id of the request being served (:data:`routet2i.logs.REQUEST_ID`, set by the gateway's
request-id middleware) is sent as ``X-Request-ID``, so the worker's log lines carry the same id.

Retries: only when the request provably never reached the worker (connection refused, connect
timeout, no free pooled connection), never after it was sent (a read timeout may mean the worker
is generating, and a retry would pay for the images twice).
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any

import httpx
from pydantic import ValidationError

from routet2i.logs import REQUEST_ID
from routet2i.request_id import REQUEST_ID_HEADER
from routet2i.workers.errors import (
    ERROR_TYPES,
    WorkerBadRequest,
    WorkerError,
    WorkerOverloaded,
    WorkerPayloadTooLarge,
    WorkerTimeout,
    WorkerUnavailable,
    WorkerUpstreamError,
)
from routet2i.workers.schemas import TIMEOUT_HEADER, GenerateRequest, GenerateResponse, WorkerInfo

log = logging.getLogger(__name__)

#: Transport errors raised before any byte of the request reached the worker: safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

_STATUS_CLASSES: dict[int, type[WorkerError]] = {
    400: WorkerBadRequest,
    # the worker refused *our* key (tiers.*.api_key): a misconfiguration, not the user's mistake
    401: WorkerUpstreamError,
    403: WorkerUpstreamError,
    413: WorkerPayloadTooLarge,
    422: WorkerBadRequest,
    429: WorkerOverloaded,
    502: WorkerUpstreamError,
    503: WorkerUnavailable,
    504: WorkerTimeout,
}


class WorkerClient:
    """Async client of one worker (``base_url`` like ``http://127.0.0.1:8001``).

    ``timeout``: default seconds for a whole :meth:`generate` call; ``connect_timeout``: seconds
    to open a connection; ``connect_retries``: extra attempts after a connection failure, with
    ``retry_backoff`` seconds doubling between them; ``max_connections``: the pool size.
    ``transport``: an httpx transport (tests, or a Unix socket).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 120.0,
        connect_timeout: float = 5.0,
        probe_timeout: float = 5.0,
        connect_retries: int = 2,
        retry_backoff: float = 0.1,
        max_connections: int = 64,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.probe_timeout = probe_timeout
        self.connect_retries = connect_retries
        self.retry_backoff = retry_backoff
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
            transport=transport,
        )

    async def __aenter__(self) -> WorkerClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- calls -------------------------------------------------------------------------------

    async def generate(self, request: GenerateRequest, *, timeout: float | None = None) -> GenerateResponse:
        """Generate images. ``timeout``: seconds for this call (default: the client's)."""
        seconds = self.timeout if timeout is None else timeout
        response = await self._send(
            "POST",
            "/v1/generate",
            json=request.model_dump(exclude_unset=True, exclude_none=True),
            headers={TIMEOUT_HEADER: f"{seconds:.3f}"},
            timeout=httpx.Timeout(seconds, connect=min(self.connect_timeout, seconds)),
        )
        if response.status_code != 200:
            raise error_from_response(response)
        try:
            answer = GenerateResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise WorkerError(f"the worker's answer is not a GenerateResponse: {exc}", status=502) from exc
        check_answer(answer, request.n)
        return answer

    async def health(self) -> bool:
        """Whether the worker process answers /healthz with 200 (False when unreachable)."""
        return await self._probe("/healthz")

    async def ready(self) -> bool:
        """Whether the worker's model is loaded and warmed (False when unreachable)."""
        return await self.why_not_ready() is None

    async def why_not_ready(self) -> str | None:
        """None when the worker is ready (``/readyz`` answers 200); else why not: the worker's
        own words from its ``/readyz`` body (still loading, or its load error), or why it could
        not be asked (unreachable, no answer in time)."""
        try:
            response = await self._send("GET", "/readyz", timeout=httpx.Timeout(self.probe_timeout), retries=0)
        except WorkerError as exc:
            return str(exc)
        if response.status_code == 200:
            return None
        return readiness_reason(response)

    async def info(self) -> WorkerInfo:
        """The worker's model, defaults, limits and queue (``GET /v1/info``)."""
        response = await self._send("GET", "/v1/info", timeout=httpx.Timeout(self.probe_timeout))
        if response.status_code != 200:
            raise error_from_response(response)
        try:
            return WorkerInfo.model_validate_json(response.content)
        except ValidationError as exc:
            raise WorkerError(f"the worker's answer is not a WorkerInfo: {exc}", status=502) from exc

    # -- plumbing ----------------------------------------------------------------------------

    async def _probe(self, path: str) -> bool:
        try:
            response = await self._send("GET", path, timeout=httpx.Timeout(self.probe_timeout), retries=0)
        except WorkerError:
            return False
        return response.status_code == 200

    async def _send(
        self, method: str, path: str, *, timeout: httpx.Timeout, retries: int | None = None, **kwargs: Any
    ) -> httpx.Response:
        attempts = 1 + (self.connect_retries if retries is None else retries)
        delay = self.retry_backoff
        request_id = REQUEST_ID.get()
        if request_id is not None:
            kwargs["headers"] = {**kwargs.get("headers", {}), REQUEST_ID_HEADER: request_id}
        for attempt in range(1, attempts + 1):
            try:
                return await self._http.request(method, path, timeout=timeout, **kwargs)
            except _NOT_SENT as exc:
                if attempt == attempts:
                    raise WorkerUnavailable(f"worker {self.base_url} unreachable: {type(exc).__name__}: {exc}") from exc
                log.debug("worker %s: %s; retry %d/%d", self.base_url, type(exc).__name__, attempt, attempts - 1)
                await asyncio.sleep(delay)
                delay *= 2
            except httpx.TimeoutException as exc:
                raise WorkerTimeout(f"worker {self.base_url} did not answer in time ({type(exc).__name__})") from exc
            except httpx.HTTPError as exc:
                raise WorkerError(
                    f"talking to worker {self.base_url} failed: {type(exc).__name__}: {exc}", status=502
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover


def readiness_reason(response: httpx.Response) -> str:
    """Why a worker's ``/readyz`` answer (not 200) says it is not ready, from its body
    (``{"ready": false, "status": "loading" | "failed", "error": ...}``)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"/readyz answered {response.status_code}: {response.text[:200]}".rstrip(": ")
    status, error = body.get("status"), body.get("error")
    if status == "failed":
        return f"the model failed to load: {error}"
    if status == "loading":
        return "the model is still loading"
    return f"the worker is {status}" + (f": {error}" if error else "") if status else f"HTTP {response.status_code}"


#: Every base64-encoded PNG starts with this (the encoding of the PNG signature's first 60 bits).
PNG_B64_PREFIX = "iVBORw0KGg"


def check_answer(answer: GenerateResponse, n: int) -> None:
    """Raise (a 502-class :class:`WorkerError`) unless the answer holds ``n`` base64 PNGs: a
    well-formed body with no image, too many, or something else inside is a broken worker, not
    an answer to pass on. Checks the PNG signature only (cheap), not the whole image."""
    if len(answer.images) != n:
        raise WorkerError(f"the worker answered {len(answer.images)} images for n={n}", status=502)
    for image in answer.images:
        if not image.b64_png.startswith(PNG_B64_PREFIX):
            raise WorkerError("the worker answered an image that is not a base64 PNG", status=502)


def error_from_response(response: httpx.Response) -> WorkerError:
    """The typed exception for a worker's error response (status and JSON body)."""
    status = response.status_code
    error: dict[str, Any] = {}
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = body["error"]
    except ValueError:
        pass
    message = str(error.get("message") or response.text[:200] or f"HTTP {status}")
    field = error.get("field")
    cls = _STATUS_CLASSES.get(status)
    if cls is None:
        by_type = ERROR_TYPES.get(str(error.get("type")))
        if by_type is not None and by_type.status_code == status:
            cls = by_type
        elif 400 <= status < 500:
            cls = WorkerBadRequest
        else:
            cls = WorkerError
    if cls is WorkerOverloaded:
        retry_after = _retry_after(response, error)
        return WorkerOverloaded(message, retry_after=retry_after if retry_after is not None else 1.0, status=status)
    return cls(
        message,
        field=field if isinstance(field, str) else None,
        status=status,
        retry_after=_retry_after(response, error),
    )


def _retry_after(response: httpx.Response, error: dict[str, Any]) -> float | None:
    header = response.headers.get("retry-after")
    for value in (header, error.get("retry_after")):
        if value is None:
            continue
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None
