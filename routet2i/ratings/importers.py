"""Importers of rated text-to-image datasets into the ratings table.

Each importer reads the files of one dataset as they lie in the data folder (``../shared/data``
by default; see each folder's SOURCE.md) and never copies them. Scores keep their source scale
(higher is better); normalise within a dataset when pooling (:mod:`routet2i.ratings.pairs`).

=================  ================================================  ==========================
dataset            models (as named in the source)                   metrics (scale)
=================  ================================================  ==========================
genai-bench-527    DALLE_3, Midjourney_6, SDXL_Base, SDXL_Turbo,     alignment (1–5 Likert,
                   DeepFloyd_I_XL_v1, SDXL_2_1 (= SD 2.1)            mean of 3 raters)
agiqa-3k           sd1.5_normal, sd1.5_lowstep, sd1.5_highcorr,      quality, alignment
                   sd1.5_lowcorr, xl2.2_normal (SDXL beta),          (MOS 0–5; mean over raters,
                   midjourney_normal, midjourney_lowstep,            count not published)
                   DALLE2_normal, glide_normal, AttnGAN_normal
tifa-human         stable_diffusion_v1_1, stable_diffusion_v1_5,     alignment (1–5, 2 raters),
                   stable_diffusion_v2_1, vq_diffusion, mini_dalle   alignment_dsg (1–5, ~5
                                                                     raters, DSG re-annotation)
=================  ================================================  ==========================
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from statistics import fmean
from typing import Any

from routet2i.errors import DataError
from routet2i.ratings.table import Rating, RatingsTable


def _open_source(data_dir: Path, folder: str, name: str) -> Path:
    path = Path(data_dir) / folder / name
    if not path.is_file():
        raise DataError(f"{folder}: expected {path} (is --data-dir right? see {Path(data_dir) / 'README.md'})")
    return path


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from exc


def import_genai_bench(data_dir: Path) -> RatingsTable:
    """GenAI-Bench (527 prompts × 6 models × 3 raters): one row per (prompt, model)."""
    path = _open_source(data_dir, "genai-bench-527", "genai_image.json")
    data = _load_json(path)
    table = RatingsTable()
    for key, item in data.items():
        for model, scores in item["models"].items():
            ratings = tuple(float(s) for s in scores)
            table.rows.append(
                Rating(
                    dataset="genai-bench-527",
                    prompt_id=str(item.get("id", key)),
                    prompt=item["prompt"],
                    model=model,
                    sample="0",
                    metric="alignment",
                    score=fmean(ratings),
                    source="human:genai-bench",
                    n_ratings=len(ratings),
                    ratings=ratings,
                )
            )
    return table


def import_agiqa(data_dir: Path) -> RatingsTable:
    """AGIQA-3K (300 prompts, 2,982 images): perceptual quality and alignment MOS per image.

    The model is the file name's ``<model>_<variant>`` prefix; the prompt id is its index.
    """
    path = _open_source(data_dir, "agiqa-3k", "data.csv")
    table = RatingsTable()
    with path.open(encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.DictReader(f), 2):
            try:
                stem = row["name"].rsplit(".", 1)[0]
                model, index = stem.rsplit("_", 1)
                for metric, column in (("quality", "mos_quality"), ("alignment", "mos_align")):
                    table.rows.append(
                        Rating(
                            dataset="agiqa-3k",
                            prompt_id=index,
                            prompt=row["prompt"],
                            model=model,
                            sample="0",
                            metric=metric,
                            score=float(row[column]),
                            source="human:agiqa-3k",
                            image=row["name"],
                        )
                    )
            except (KeyError, ValueError) as exc:
                raise DataError(f"{path}:{lineno}: unexpected row ({exc!r})") from exc
    return table


#: DSG model names → TIFA model names (the same 800 images).
_DSG_MODELS = {
    "mini-dalle": "mini_dalle",
    "vq-diffusion": "vq_diffusion",
    "sd1dot1": "stable_diffusion_v1_1",
    "sd1dot5": "stable_diffusion_v1_5",
    "sd2dot1": "stable_diffusion_v2_1",
}


def import_tifa(data_dir: Path) -> RatingsTable:
    """TIFA160 (160 prompts × 5 models): TIFA's 2-rater Likert (``alignment``) and the DSG
    re-annotation of the same images by ~5 raters (``alignment_dsg``)."""
    path = _open_source(data_dir, "tifa-human", "human_annotations.json")
    data = _load_json(path)
    table = RatingsTable()
    prompts: dict[str, str] = {}
    for key, item in data.items():
        text_id = item["text_id"]
        model = key[len(text_id) + 1 :]
        prompts[text_id] = item["text"]
        ratings = tuple(float(s) for s in item["human_scores"])
        table.rows.append(
            Rating(
                dataset="tifa-human",
                prompt_id=text_id,
                prompt=item["text"],
                model=model,
                sample="0",
                metric="alignment",
                score=fmean(ratings),
                source="human:tifa",
                n_ratings=len(ratings),
                ratings=ratings,
                image=item.get("image_path"),
            )
        )
    dsg_path = Path(data_dir) / "tifa-human" / "dsg_tifa160_anns.csv"
    if dsg_path.is_file():
        grouped: dict[tuple[str, str], list[float]] = defaultdict(list)
        with dsg_path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                grouped[(row["source_id"], _DSG_MODELS.get(row["model_type"], row["model_type"]))].append(
                    float(row["answer"])
                )
        for (text_id, model), answers in sorted(grouped.items()):
            if text_id not in prompts:
                raise DataError(f"{dsg_path}: source_id {text_id!r} is not a TIFA160 prompt")
            table.rows.append(
                Rating(
                    dataset="tifa-human",
                    prompt_id=text_id,
                    prompt=prompts[text_id],
                    model=model,
                    sample="0",
                    metric="alignment_dsg",
                    score=fmean(answers),
                    source="human:dsg",
                    n_ratings=len(answers),
                    ratings=tuple(answers),
                )
            )
    return table


IMPORTERS: dict[str, Callable[[Path], RatingsTable]] = {
    "genai-bench-527": import_genai_bench,
    "agiqa-3k": import_agiqa,
    "tifa-human": import_tifa,
}


def import_dataset(name: str, data_dir: Path) -> RatingsTable:
    """Import the dataset ``name`` (one of :data:`IMPORTERS`) from ``data_dir``."""
    if name not in IMPORTERS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(IMPORTERS)}")
    return IMPORTERS[name](Path(data_dir))
