"""The CLIP backend factory: load the :class:`~routet2i.quality.backend.ClipBackend` a
:class:`~routet2i.quality.backend.ClipSpec` names (kept out of ``backend.py``, which the
implementations import)."""

from __future__ import annotations

from routet2i.quality.backend import ClipBackend, ClipSpec, resolve_device, resolve_dtype


def load_clip_backend(spec: ClipSpec) -> ClipBackend:
    """Load the model ``spec`` names. A model that cannot be found or loaded is a ConfigError."""
    spec = spec.resolved()
    assert spec.model is not None
    device, dtype = resolve_device(spec.device), resolve_dtype(spec.dtype)
    if spec.backend == "open_clip":
        from routet2i.quality.open_clip_backend import OpenClipBackend

        return OpenClipBackend.load(spec.model, spec.pretrained, device=device, dtype=dtype)
    from routet2i.quality.transformers_backend import TransformersClipBackend

    return TransformersClipBackend.load(spec.model, device=device, dtype=dtype)
