"""Tiny text-to-image pipelines built in code: random weights, the real architectures.

Each builder mirrors diffusers' own tests (``get_dummy_components``) and saves the pipeline with
``save_pretrained`` into a folder, which the worker then loads through its config exactly as a
hub id would be loaded (``model: <folder>``). One step at 64 px takes about 10 ms on a CPU.

- SD 1.x: UNet2DConditionModel, AutoencoderKL, CLIPTextModel, the real CLIP BPE tokenizer.
- SDXL: the same plus CLIPTextModelWithProjection and the text-time embedding.
- SD3: SD3Transformer2DModel, two CLIPTextModelWithProjection, a tiny T5EncoderModel with a tiny
  T5 unigram tokenizer built offline with the ``tokenizers`` library.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from routet2i.testing.clip_tokenizer import CLIP_VOCAB_SIZE, build_clip_tokenizer

#: OpenAI CLIP's special-token ids (start, end = pad).
CLIP_BOS, CLIP_EOS = 49406, 49407


def _clip_text_config(hidden: int, layers: int, projection_dim: int | None = None) -> Any:
    from transformers import CLIPTextConfig

    kwargs: dict[str, Any] = {}
    if projection_dim is not None:
        kwargs["projection_dim"] = projection_dim
    return CLIPTextConfig(
        bos_token_id=CLIP_BOS,
        eos_token_id=CLIP_EOS,
        pad_token_id=CLIP_EOS,
        hidden_size=hidden,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=layers,
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_act="gelu",
        max_position_embeddings=77,
        **kwargs,
    )


def _tiny_vae(**overrides: Any) -> Any:
    """The tiny 4-channel SD / SDXL autoencoder (two blocks of 4 and 8 channels)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        **{
            "block_out_channels": [4, 8],
            "in_channels": 3,
            "out_channels": 3,
            "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
            "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"],
            "latent_channels": 4,
            "norm_num_groups": 2,
            **overrides,
        }
    )


def build_tiny_sd(seed: int = 0) -> Any:
    """A tiny ``StableDiffusionPipeline`` (SD 1.x / SD-Turbo architecture)."""
    import torch
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=2,
    )
    # SD-Turbo's scheduler: ancestral, so every step also draws noise from the per-image generator.
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    vae = _tiny_vae()
    text_encoder: Any = CLIPTextModel(_clip_text_config(hidden=32, layers=2))
    return StableDiffusionPipeline(
        unet=unet,
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder.eval(),
        tokenizer=build_clip_tokenizer(),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )


def build_tiny_sdxl(seed: int = 0) -> Any:
    """A tiny ``StableDiffusionXLPipeline`` (two CLIP text towers, text-time conditioning)."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(2, 4),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 6 time ids x 8 + the 32-d pooled text embedding
        cross_attention_dim=64,  # the two 32-d text towers, concatenated
        norm_num_groups=1,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear", timestep_spacing="leading"
    )
    vae = _tiny_vae(sample_size=128)
    text_encoder: Any = CLIPTextModel(_clip_text_config(hidden=32, layers=2, projection_dim=32))
    text_encoder_2: Any = CLIPTextModelWithProjection(_clip_text_config(hidden=32, layers=2, projection_dim=32))
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder.eval(),
        text_encoder_2=text_encoder_2.eval(),
        tokenizer=build_clip_tokenizer(),
        tokenizer_2=build_clip_tokenizer(pad_token="!"),
        unet=unet,
        scheduler=scheduler,
        image_encoder=None,
        feature_extractor=None,
        force_zeros_for_empty_prompt=True,
    )


def build_tiny_t5_tokenizer() -> Any:
    """A tiny T5 tokenizer (unigram over characters, T5's special tokens), built offline."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import T5Tokenizer  # tokenizers-backed in transformers 5 (= T5TokenizerFast)

    specials = ["<pad>", "</s>", "<unk>"]
    pieces = ["▁"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)] + list(",.!?-'")
    vocab = [(tok, 0.0) for tok in specials] + [(p, -float(i + 1) / 10) for i, p in enumerate(pieces)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return T5Tokenizer(
        tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=0, model_max_length=256
    )


def build_tiny_sd3(seed: int = 0) -> Any:
    """A tiny ``StableDiffusion3Pipeline`` (MMDiT transformer, two CLIP towers and a tiny T5)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextModelWithProjection, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=32,
        patch_size=1,
        in_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=32,
        pooled_projection_dim=64,
        out_channels=4,
    )
    text_encoder: Any = CLIPTextModelWithProjection(_clip_text_config(hidden=32, layers=2, projection_dim=32))
    text_encoder_2: Any = CLIPTextModelWithProjection(_clip_text_config(hidden=32, layers=2, projection_dim=32))
    t5_tokenizer = build_tiny_t5_tokenizer()
    t5: Any = T5EncoderModel(
        T5Config(
            vocab_size=len(t5_tokenizer),
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
        )
    )
    vae = AutoencoderKL(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4, 8),
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder.eval(),
        tokenizer=build_clip_tokenizer(),
        text_encoder_2=text_encoder_2.eval(),
        tokenizer_2=build_clip_tokenizer(),
        text_encoder_3=t5.eval(),
        tokenizer_3=t5_tokenizer,
    )


BUILDERS = {"sd": build_tiny_sd, "sdxl": build_tiny_sdxl, "sd3": build_tiny_sd3}


def save_tiny_pipeline(kind: str, path: str | Path, seed: int = 0) -> Path:
    """Build the tiny pipeline ``kind`` (``sd``, ``sdxl`` or ``sd3``) and ``save_pretrained`` it."""
    p = Path(path)
    BUILDERS[kind](seed).save_pretrained(p)
    return p
