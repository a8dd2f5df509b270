"""The image formats the gateway answers in (PNG, JPEG, WebP) and the one encoder that makes them.

Workers always answer PNG (lossless, and what the shadow store and the learner keep); the gateway
re-encodes at the edge of the API, so every backend (diffusers, a hosted API) gets every format
and the routing core never sees one. A PNG is passed through untouched (no decode); JPEG and WebP
are encoded with Pillow at ``quality = output_compression`` (as in the OpenAI Images API: 0–100,
default 100; lower gives smaller files). PNG is lossless: ``output_compression`` does not apply
to it and is ignored. Pillow is imported when a JPEG or WebP is first made.
"""

from __future__ import annotations

import io
from typing import Literal, get_args

#: An output format, as the APIs name it (``output_format``).
ImageFormat = Literal["png", "jpeg", "webp"]
#: Every output format, the workers' own (PNG) first.
FORMATS: tuple[ImageFormat, ...] = get_args(ImageFormat)
#: The format answered when a request names none.
DEFAULT_FORMAT: ImageFormat = "png"
#: The media type of each format (``Content-Type`` of a raw image, ``Accept`` on ``/generate``).
MEDIA_TYPES: dict[ImageFormat, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
#: ``output_compression`` when a request gives none (the OpenAI Images API's default).
DEFAULT_COMPRESSION = 100
MIN_COMPRESSION, MAX_COMPRESSION = 0, 100

_PILLOW_NAMES: dict[ImageFormat, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


class InvalidImage(ValueError):
    """The bytes to re-encode are not a readable image (a worker answered garbage)."""


def encode(png: bytes, fmt: ImageFormat, compression: int | None = None) -> bytes:
    """``png`` (a worker's image) as ``fmt``; ``compression`` (0–100, default 100) sets the
    quality of a JPEG or WebP. A PNG comes back as it was given."""
    if fmt == "png":
        return png
    from PIL import Image, UnidentifiedImageError

    quality = DEFAULT_COMPRESSION if compression is None else compression
    try:
        with Image.open(io.BytesIO(png)) as opened:
            opened.load()
            image = opened.convert("RGB") if fmt == "jpeg" and opened.mode != "RGB" else opened  # JPEG: no alpha
            out = io.BytesIO()
            image.save(out, format=_PILLOW_NAMES[fmt], quality=quality)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidImage(f"not a readable image: {exc}") from None
    return out.getvalue()
