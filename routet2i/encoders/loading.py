"""Load a text encoder from its spec string (see :mod:`routet2i.encoders.spec`)."""

from __future__ import annotations

from routet2i.encoders.base import TextEncoder
from routet2i.encoders.spec import EncoderSpec


def load_encoder(spec: str, device: str = "cpu") -> TextEncoder:
    """The frozen encoder named by ``spec`` on ``device``; its ``spec`` attribute is ``spec``
    normalised (``str(EncoderSpec.parse(spec))``). A bad spec or unloadable model is a
    :class:`~routet2i.errors.ConfigError`."""
    parsed = EncoderSpec.parse(spec)
    if parsed.kind == "minilm":
        from routet2i.encoders.minilm import load_minilm

        return load_minilm(device)
    if parsed.kind == "hf":
        from routet2i.encoders.hf import HFTextEncoder

        return HFTextEncoder(parsed.name, spec=str(parsed), subfolder=parsed.subfolder, device=device)
    from routet2i.encoders.open_clip_text import OpenClipTextEncoder

    return OpenClipTextEncoder(parsed, device=device)
