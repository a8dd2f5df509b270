"""Scoring inputs that are not a pipeline manifest: a plain folder of images, and the file mapping
its images to their prompts.

:func:`entries_from_folder` builds the pipeline's own manifest entries
(:class:`~routet2i.pipeline.manifest.ManifestEntry`, seed unknown) so that ``routet2i score``
scores a folder exactly as it scores a manifest (:func:`~routet2i.pipeline.manifest.read_manifest`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from routet2i.errors import DataError
from routet2i.pipeline.manifest import ManifestEntry
from routet2i.prompt_ids import default_prompt_id

log = logging.getLogger(__name__)

#: File suffixes (lower case) taken as images when scoring a folder.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def read_prompt_mapping(path: str | Path) -> dict[str, str]:
    """Image → prompt for a folder: a JSON object ``{"cat.png": "a cat", ...}`` or, for a
    ``.jsonl`` file, lines ``{"image": "cat.png", "prompt": "a cat"}``. Keys are file names
    relative to the folder, or their stems."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"prompts file not found: {p}")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".jsonl":
        mapping: dict[str, str] = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                mapping[str(row["image"])] = str(row["prompt"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DataError(f"{p}:{lineno}: expected {{'image': ..., 'prompt': ...}} ({exc!r})") from None
        return mapping
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{p}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DataError(f"{p}: expected a JSON object mapping image file names to prompts")
    return {str(k): v for k, v in data.items()}


def entries_from_folder(
    folder: str | Path,
    *,
    model: str,
    prompts: Mapping[str, str] | None = None,
    prompt_from_filename: bool = False,
    dataset: str | None = None,
) -> list[ManifestEntry]:
    """Entries for the images directly inside ``folder`` (sorted by name; see
    :data:`IMAGE_SUFFIXES`), all made by ``model``, seed unknown.

    Each image's prompt comes, first found, from ``prompts`` (keyed by file name or stem), from a
    sidecar ``<stem>.txt`` beside it, or, with ``prompt_from_filename``, from its stem with ``_``
    and ``-`` read as spaces. An image with no prompt is a :class:`DataError` listing them all.
    """
    d = Path(folder)
    if not d.is_dir():
        raise DataError(f"image folder not found: {d}")
    images = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
    if not images:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {d}")
    prompts = prompts or {}
    entries: list[ManifestEntry] = []
    unprompted: list[str] = []
    for image in images:
        prompt = prompts.get(image.name, prompts.get(image.stem))
        sidecar = image.with_suffix(".txt")
        if prompt is None and sidecar.is_file():
            prompt = sidecar.read_text(encoding="utf-8").strip()
        if prompt is None and prompt_from_filename:
            prompt = image.stem.replace("_", " ").replace("-", " ").strip()
        if not prompt:
            unprompted.append(image.name)
            continue
        entries.append(ManifestEntry(image, prompt, model, dataset or d.name, default_prompt_id(prompt), seed=None))
    if unprompted:
        shown = ", ".join(unprompted[:10]) + (", …" if len(unprompted) > 10 else "")
        raise DataError(
            f"no prompt for {len(unprompted)} of {len(images)} images in {d} ({shown}): give --prompts FILE, "
            "put a <name>.txt beside each image, or pass --prompt-from-filename"
        )
    unused = set(prompts) - {i.name for i in images} - {i.stem for i in images}
    if unused:
        log.warning("%d prompts in the mapping match no image in %s (e.g. %s)", len(unused), d, sorted(unused)[0])
    return entries
