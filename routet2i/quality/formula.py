"""The CLIP quality formulas, on L2-normalised features (so a dot product is a cosine).

Contrastive quality (CLIP-IQA's two-way softmax, the RouteT2I metric score):

    q(I, m) = sigmoid( s * ( cos(f_img(I), f_txt(m+)) - cos(f_img(I), f_txt(m-)) ) )  in (0, 1)

with s the CLIP model's own logit scale (``exp(logit_scale)``, 100 for OpenAI CLIP). Swapping
m+ and m- gives 1 - q. Prompt alignment: ``cos(f_img(I), f_txt(prompt))`` in [-1, 1], or the
CLIPScore convention ``2.5 * max(cos, 0)`` in [0, 2.5].
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

#: CLIPScore's rescaling weight (Hessel et al., 2021).
CLIPSCORE_WEIGHT = 2.5


def contrastive_quality(
    image_features: torch.Tensor,
    positive_features: torch.Tensor,
    negative_features: torch.Tensor,
    logit_scale: float,
) -> torch.Tensor:
    """``q[n, i]`` for images ``n`` (rows of ``image_features``, shape [N, D]) and metrics ``i``
    (rows of ``positive_features`` / ``negative_features``, shape [M, D]); returns [N, M] in (0, 1),
    float64 (float32 would round q to exactly 1 once s * margin exceeds about 17)."""
    import torch

    image = image_features.double()
    margin = image @ positive_features.double().T - image @ negative_features.double().T
    return torch.sigmoid(logit_scale * margin)


def alignment_score(
    image_features: torch.Tensor,
    prompt_features: torch.Tensor,
    convention: Literal["cosine", "clipscore"] = "cosine",
) -> torch.Tensor:
    """Row-wise image-prompt similarity, shape [N], float64: the cosine in [-1, 1] or ``2.5 * max(cos, 0)``."""
    cos = (image_features.double() * prompt_features.double()).sum(dim=-1)
    if convention == "clipscore":
        return CLIPSCORE_WEIGHT * cos.clamp(min=0.0)
    return cos
