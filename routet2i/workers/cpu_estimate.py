"""How long a diffusers image takes on a CPU: a rough estimate from the model's size, for the one
warning a worker logs when its pipeline lands on the CPU.

The estimate counts floating-point operations from parameter counts and divides by a measured CPU
throughput. How the constants were derived (2026-12-07, torch 2.14, float32, an AMD EPYC with 2
threads, ``torch.utils.flop_counter.FlopCounterMode`` on the meta device for the counts):

- **Denoiser, per step**: the SDXL UNet (2.567 B parameters) does 6.76 TFLOP at 1024 px (128 x 128
  latent positions) and 1.59 at 512 px; the SD 2.x UNet (866 M, SD-Turbo's) 0.80 at 512 px and
  4.68 at 1024 px. That is 0.15-0.33 FLOP per parameter and latent position (attention grows
  with the square of the positions): :data:`UNET_FLOP` = 0.2. A transformer denoiser (SD3, Flux)
  does about 2 FLOP per parameter per token, one token per 2 x 2 latent patch:
  :data:`TRANSFORMER_FLOP` = 0.5 per position (its attention left out).
- **VAE decoder**: the SD / SDXL decoder (49.5 M parameters) does 2.52 TFLOP at 512 px and 10.47
  at 1024 px: 0.19-0.20 FLOP per parameter and output pixel, :data:`DECODER_FLOP` = 0.2. It is a
  large share of a few-step model's time (SD-Turbo's one 512 px step costs a third of its decode).
- **Text encoders**: 2 FLOP per parameter per token, 77 tokens, once per prompt (and once more for
  the negative prompt under classifier-free guidance).
- **Throughput**: one SD 2.x UNet step at 512 px took 8.99 s (89 GFLOP/s on 2 threads) and one
  VAE decode at 512 px 41.6 s (60 GFLOP/s); per thread :data:`DENOISER_FLOPS_PER_THREAD` = 45 G
  and :data:`DECODER_FLOPS_PER_THREAD` = 30 G, scaled linearly with torch's thread count
  (optimistic beyond a few cores).

So SD-Turbo, one step at 512 px on 2 threads, comes to about 50 s (measured parts: 9 + 42 s),
and SDXL, 30 steps with guidance at 1024 px, to about 95 minutes. (The issue that asked for this
warning quotes 4 min 54 s for a forced cloud request on 2 cores, but that run had no hub to load
SDXL's weights from and does not fit SDXL's operation count either — it would need 1.4 TFLOP/s —
so it is not used.) The estimate is rough, within a factor of two or so on a similar CPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from routet2i.workers.settings import WorkerSettings

log = logging.getLogger(__name__)

UNET_FLOP = 0.2
TRANSFORMER_FLOP = 0.5
DECODER_FLOP = 0.2
TEXT_TOKENS = 77
DENOISER_FLOPS_PER_THREAD = 45e9
DECODER_FLOPS_PER_THREAD = 30e9

#: An estimate at least this share of the request deadline is called "near" it.
NEAR_DEADLINE = 0.5


@dataclass(frozen=True)
class PipelineSize:
    """What the estimate needs of a pipeline: parameter counts and the latent's downscale."""

    denoiser_params: int
    transformer: bool
    decoder_params: int
    text_params: int
    latent_factor: int = 8


def _params(module: Any) -> int:
    parameters = getattr(module, "parameters", None)
    return sum(int(p.numel()) for p in parameters()) if callable(parameters) else 0


def pipeline_size(pipe: Any) -> PipelineSize:
    """The sizes of a loaded diffusers pipeline (a UNet or a transformer denoiser)."""
    unet = getattr(pipe, "unet", None)
    denoiser = unet if unet is not None else getattr(pipe, "transformer", None)
    vae = getattr(pipe, "vae", None)
    decoder = getattr(vae, "decoder", vae)
    text = sum(_params(getattr(pipe, name, None)) for name in ("text_encoder", "text_encoder_2", "text_encoder_3"))
    factor = getattr(pipe, "vae_scale_factor", 8)
    return PipelineSize(
        denoiser_params=_params(denoiser),
        transformer=unet is None and denoiser is not None,
        decoder_params=_params(decoder),
        text_params=text,
        latent_factor=factor if isinstance(factor, int) and factor > 0 else 8,
    )


def cpu_seconds(size: PipelineSize, *, width: int, height: int, steps: int, guided: bool, threads: int) -> float:
    """Estimated seconds for one ``width`` x ``height`` image in ``steps`` steps on ``threads``
    CPU threads; ``guided``: classifier-free guidance (the denoiser runs twice per step)."""
    passes = 2 if guided else 1
    positions = (width // size.latent_factor) * (height // size.latent_factor)
    per_position = TRANSFORMER_FLOP if size.transformer else UNET_FLOP
    denoiser = steps * passes * per_position * size.denoiser_params * positions
    text = passes * 2 * size.text_params * TEXT_TOKENS
    decoder = DECODER_FLOP * size.decoder_params * width * height
    n = max(threads, 1)
    return (denoiser + text) / (DENOISER_FLOPS_PER_THREAD * n) + decoder / (DECODER_FLOPS_PER_THREAD * n)


def _seconds(value: float) -> str:
    if value >= 120:
        return f"{value / 60:.0f} min"
    if value < 0.1:
        return f"{value:.1g} s"  # a tiny model: "0.04 s", not a "0.0 s" that reads as broken
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def cpu_warning(
    model: str, seconds: float, *, width: int, height: int, steps: int, threads: int, deadline_s: float
) -> str:
    """The one line a worker logs when its model runs on the CPU."""
    line = (
        f"{model} runs on the CPU: expect about {_seconds(seconds)} per {width}x{height} image at {steps} "
        f"step{'s' if steps != 1 else ''} on {threads} thread{'s' if threads != 1 else ''} (a rough estimate "
        "from the model's size; a GPU is expected for real models, see diffusers.device)"
    )
    if seconds >= NEAR_DEADLINE * deadline_s:
        where = "above" if seconds >= deadline_s else "near"
        line += (
            f"; that is {where} the request deadline of {deadline_s:g} s (queue.default_timeout_s; "
            "the gateway's tiers.<tier>.timeout_s applies too)"
        )
    return line


def warn_if_cpu(pipe: Any, device: str, settings: WorkerSettings, threads: int) -> float | None:
    """Log :func:`cpu_warning` once when ``device`` is the CPU; returns the estimate (None off
    the CPU). ``settings``: the worker's (its model name, request defaults and deadline)."""
    if device.split(":")[0] != "cpu":
        return None
    d = settings.defaults
    seconds = cpu_seconds(
        pipeline_size(pipe), width=d.width, height=d.height, steps=d.steps, guided=d.guidance_scale > 1, threads=threads
    )
    log.warning(
        "%s",
        cpu_warning(
            settings.model_name,
            seconds,
            width=d.width,
            height=d.height,
            steps=d.steps,
            threads=threads,
            deadline_s=settings.queue.default_timeout_s,
        ),
    )
    return seconds
