"""An ASGI middleware that refuses request bodies over a size limit with 413 (gateway and worker).

The limit is enforced while the body is read, both on the declared ``Content-Length`` and on the
bytes actually received (chunked bodies have no length). The refusal is raised as an
HTTPException from inside the route's body read, so the app's single error mapping answers it.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """The request body is over the limit (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` (413 through the app's exception handlers)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        try:
            too_long = declared is not None and int(declared) > self.max_bytes
        except ValueError:
            too_long = False
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if too_long:
                raise BodyTooLarge(self.max_bytes)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)
