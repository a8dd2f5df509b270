"""Reading image files for scoring, with failures that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from routet2i.errors import DataError

if TYPE_CHECKING:
    from PIL import Image


class ImageReadError(DataError):
    """An image file is missing or cannot be decoded; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read image {path}: {reason}")
        self.path = path
        self.reason = reason


def load_rgb(path: str | Path) -> Image.Image:
    """Open, fully decode and convert ``path`` to RGB. Raises :class:`ImageReadError`."""
    from PIL import Image

    p = Path(path)
    if not p.is_file():
        raise ImageReadError(p, "file not found")
    try:
        with Image.open(p) as im:
            im.load()
            return im.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        # UnidentifiedImageError and truncated files are OSErrors; some decoders raise the others.
        raise ImageReadError(p, f"{type(exc).__name__}: {exc}") from exc
