"""Tiny CLIP models with random weights, saved in each library's own format.

- open_clip: an architecture config registered with ``open_clip.add_model_config`` (a 32 px
  ViT with 8 px patches, width 64, 2 layers; a text tower with the real 49408-token vocabulary,
  context 77, width 64), its state dict ``torch.save``-d to a file, loadable as
  ``create_model_and_transforms(TINY_OPEN_CLIP_NAME, pretrained=<file>)`` exactly like a tag, or as
  a ``local-dir:`` folder (``open_clip_config.json`` + ``open_clip_pytorch_model.bin``).
- transformers: the SAME weights ported into a ``CLIPModel`` (tiny ``CLIPConfig``) and saved with
  ``save_pretrained`` beside a ``CLIPImageProcessor`` and the offline CLIP tokenizer, so both
  backends compute the same features on 32x32 images.

The logit scale is set to :data:`TINY_LOGIT_SCALE` (not CLIP's 100 nor the 1/0.07 init) so a
test can tell the model's own scale from a hard-coded one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from routet2i.testing.clip_tokenizer import CLIP_VOCAB_SIZE

TINY_OPEN_CLIP_NAME = "routet2i-tiny-clip"
TINY_LOGIT_SCALE = 42.0
TINY_IMAGE_SIZE = 32
_WIDTH = 64
_LAYERS = 2
_HEADS = 2
_EMBED = 32

TINY_OPEN_CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": _EMBED,
    "quick_gelu": True,
    "vision_cfg": {
        "image_size": TINY_IMAGE_SIZE,
        "patch_size": 8,
        "width": _WIDTH,
        "layers": _LAYERS,
        "head_width": _WIDTH // _HEADS,
    },
    "text_cfg": {
        "context_length": 77,
        "vocab_size": CLIP_VOCAB_SIZE,
        "width": _WIDTH,
        "heads": _HEADS,
        "layers": _LAYERS,
    },
}

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def register_tiny_open_clip(config_dir: str | Path, quick_gelu: bool = True) -> str:
    """Write the tiny architecture config and register it with open_clip; returns its name
    (:data:`TINY_OPEN_CLIP_NAME`, with ``-gelu`` appended for the plain-GELU variant)."""
    import open_clip

    name = TINY_OPEN_CLIP_NAME if quick_gelu else f"{TINY_OPEN_CLIP_NAME}-gelu"
    if name not in open_clip.list_models():
        path = Path(config_dir) / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**TINY_OPEN_CLIP_CONFIG, "quick_gelu": quick_gelu}))
        open_clip.add_model_config(path)
    return name


def build_tiny_open_clip_state_dict(seed: int = 0) -> dict[str, Any]:
    """A random (seeded) state dict of the registered tiny architecture, logit scale set."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    model = open_clip.create_model(TINY_OPEN_CLIP_NAME)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(TINY_LOGIT_SCALE))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def save_tiny_open_clip(out_dir: str | Path, seed: int = 0) -> Path:
    """``torch.save`` the tiny model's state dict; returns the file (open_clip ``pretrained=``)."""
    import torch

    path = Path(out_dir) / "tiny_open_clip.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_tiny_open_clip_state_dict(seed), path)
    return path


def save_tiny_open_clip_dir(out_dir: str | Path, weights_file: Path) -> Path:
    """An open_clip ``local-dir:`` folder (config + weights) holding the same model."""
    import shutil

    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    preprocess = {"mean": list(OPENAI_MEAN), "std": list(OPENAI_STD), "interpolation": "bicubic"}
    config = {"model_cfg": TINY_OPEN_CLIP_CONFIG, "preprocess_cfg": preprocess}
    (d / "open_clip_config.json").write_text(json.dumps(config))
    shutil.copyfile(weights_file, d / "open_clip_pytorch_model.bin")
    return d


def tiny_hf_clip_config() -> Any:
    """The ``CLIPConfig`` equal in architecture to :data:`TINY_OPEN_CLIP_CONFIG`."""
    from transformers import CLIPConfig

    common = {
        "hidden_size": _WIDTH,
        "intermediate_size": 4 * _WIDTH,
        "num_hidden_layers": _LAYERS,
        "num_attention_heads": _HEADS,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-5,
    }
    text = {
        **common,
        "vocab_size": CLIP_VOCAB_SIZE,
        "max_position_embeddings": 77,
        "bos_token_id": 49406,
        "eos_token_id": 49407,
        "pad_token_id": 49407,
    }
    vision = {**common, "image_size": TINY_IMAGE_SIZE, "patch_size": 8}
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=_EMBED)


def open_clip_to_hf_state_dict(sd: dict[str, Any]) -> dict[str, Any]:
    """Port an open_clip ViT CLIP state dict to ``transformers.CLIPModel`` names and layouts."""
    out: dict[str, Any] = {
        "logit_scale": sd["logit_scale"],
        "text_model.embeddings.token_embedding.weight": sd["token_embedding.weight"],
        "text_model.embeddings.position_embedding.weight": sd["positional_embedding"],
        "text_model.final_layer_norm.weight": sd["ln_final.weight"],
        "text_model.final_layer_norm.bias": sd["ln_final.bias"],
        "text_projection.weight": sd["text_projection"].T.contiguous(),
        "vision_model.embeddings.class_embedding": sd["visual.class_embedding"],
        "vision_model.embeddings.patch_embedding.weight": sd["visual.conv1.weight"],
        "vision_model.embeddings.position_embedding.weight": sd["visual.positional_embedding"],
        "vision_model.pre_layrnorm.weight": sd["visual.ln_pre.weight"],
        "vision_model.pre_layrnorm.bias": sd["visual.ln_pre.bias"],
        "vision_model.post_layernorm.weight": sd["visual.ln_post.weight"],
        "vision_model.post_layernorm.bias": sd["visual.ln_post.bias"],
        "visual_projection.weight": sd["visual.proj"].T.contiguous(),
    }
    for src_prefix, dst_prefix in (("transformer", "text_model"), ("visual.transformer", "vision_model")):
        for i in range(_LAYERS):
            src, dst = f"{src_prefix}.resblocks.{i}.", f"{dst_prefix}.encoder.layers.{i}."
            q, k, v = sd[src + "attn.in_proj_weight"].chunk(3)
            qb, kb, vb = sd[src + "attn.in_proj_bias"].chunk(3)
            for name, w, b in (("q_proj", q, qb), ("k_proj", k, kb), ("v_proj", v, vb)):
                out[dst + f"self_attn.{name}.weight"] = w.contiguous()
                out[dst + f"self_attn.{name}.bias"] = b.contiguous()
            pairs = {
                "attn.out_proj": "self_attn.out_proj",
                "ln_1": "layer_norm1",
                "ln_2": "layer_norm2",
                "mlp.c_fc": "mlp.fc1",
                "mlp.c_proj": "mlp.fc2",
            }
            for a, b_name in pairs.items():
                out[dst + f"{b_name}.weight"] = sd[src + f"{a}.weight"]
                out[dst + f"{b_name}.bias"] = sd[src + f"{a}.bias"]
    return out


def save_tiny_hf_clip(out_dir: str | Path, open_clip_weights: Path, tokenizer_dir: Path) -> Path:
    """A ``save_pretrained`` folder (CLIPModel + CLIPImageProcessor + CLIP tokenizer) holding the
    weights of ``open_clip_weights`` ported to transformers."""
    import torch
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    d = Path(out_dir)
    model = CLIPModel(tiny_hf_clip_config())
    state = open_clip_to_hf_state_dict(torch.load(open_clip_weights, map_location="cpu", weights_only=True))
    model.load_state_dict(state, strict=True)
    model.save_pretrained(d)
    CLIPImageProcessor(
        size={"shortest_edge": TINY_IMAGE_SIZE},
        crop_size={"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE},
        image_mean=list(OPENAI_MEAN),
        image_std=list(OPENAI_STD),
    ).save_pretrained(d)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(d)
    return d
