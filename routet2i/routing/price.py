"""What an image costs on a tier, in the budget's currency."""

from __future__ import annotations

from pydantic import Field

from routet2i.config import StrictModel


class Price(StrictModel):
    """Price of images on one tier::

        cost = n · (per_image + per_megapixel · MP + per_megapixel_step · MP · steps)

    with MP = width · height / 10⁶ (a 512×512 image is 0.262 MP). A hosted API priced per image
    sets ``per_image``; a GPU priced by compute time is roughly proportional to MP · steps.
    Also the ``price`` block of a tier in the gateway's settings.
    """

    per_image: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    per_megapixel: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    per_megapixel_step: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    #: Steps assumed for pricing when a request leaves ``steps`` to the worker's default.
    default_steps: int = Field(default=1, ge=1)

    def cost(self, width: int, height: int, steps: int | None, n: int = 1) -> float:
        """Cost of ``n`` images of ``width``×``height`` pixels with ``steps`` denoising steps
        (``None``: unknown, the per-step part is not charged)."""
        mp = width * height / 1e6
        return n * (self.per_image + self.per_megapixel * mp + self.per_megapixel_step * mp * (steps or 0))

    def quote(self, width: int, height: int, steps: int | None, n: int = 1) -> float:
        """Cost of a request as priced before it runs: ``steps`` left out (None) are priced at
        ``default_steps``."""
        return self.cost(width, height, steps or self.default_steps, n)
