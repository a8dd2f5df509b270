"""Image manifests, the pipeline's output: which image shows which prompt, made by which model with
which seed.

Format: JSON Lines, one object a line, UTF-8:

- ``image``     the image path, relative to the manifest's folder (or absolute);
- ``prompt``    the prompt the image was generated from;
- ``model``     the model that made it (as the ratings table names models);
- ``seed``      the generation seed (an integer; it becomes the ratings ``sample``);
- ``dataset``   optional: where the prompt comes from (default: the caller's, else the manifest
  file's stem);
- ``prompt_id`` optional: the prompt's id within the dataset (default:
  :func:`~routet2i.prompt_ids.default_prompt_id`, a hash of the prompt text, so the same prompt
  gets the same id for every model);
- any other key (generation parameters, timings, …) is kept in :attr:`ManifestEntry.extra`.

``routet2i generate-pairs`` appends one line per finished image (:mod:`routet2i.pipeline.store`,
with :meth:`ManifestEntry.to_dict`); :func:`write_manifest` writes a list of entries at once.
``routet2i score`` reads manifests with :func:`read_manifest`, and builds the same entries for a
plain folder of images with :func:`routet2i.quality.folder.entries_from_folder`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routet2i.errors import DataError
from routet2i.prompt_ids import default_prompt_id

_KNOWN_KEYS = ("image", "prompt", "prompt_id", "dataset", "model", "seed")


@dataclass(frozen=True)
class ManifestEntry:
    """One image with its provenance. ``image`` is a usable path (already joined to the manifest's
    folder); ``seed`` is None for images of unknown seed (a scored folder)."""

    image: Path
    prompt: str
    model: str
    dataset: str
    prompt_id: str
    seed: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sample(self) -> str:
        """The ratings-table ``sample``: the seed, or the image file name when the seed is unknown."""
        return str(self.seed) if self.seed is not None else self.image.name

    def to_dict(self, relative_to: Path | None = None) -> dict[str, Any]:
        """The JSON object of this entry, its image path relative to ``relative_to`` when given."""
        image = os.path.relpath(self.image, relative_to) if relative_to is not None else str(self.image)
        d: dict[str, Any] = {
            "image": Path(image).as_posix(),
            "prompt": self.prompt,
            "prompt_id": self.prompt_id,
            "dataset": self.dataset,
            "model": self.model,
            "seed": self.seed,
        }
        d.update({k: v for k, v in self.extra.items() if k not in d})
        return d


def write_manifest(path: str | Path, entries: Iterable[ManifestEntry]) -> None:
    """Write ``entries`` as a JSONL manifest, image paths relative to the manifest's folder."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    folder = p.parent.absolute()
    tmp = p.with_name(p.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for entry in entries:
            f.write(json.dumps(entry.to_dict(relative_to=folder), ensure_ascii=False) + "\n")
    tmp.replace(p)


def read_manifest(
    path: str | Path, *, default_dataset: str | None = None, default_model: str | None = None
) -> list[ManifestEntry]:
    """Read a JSONL manifest. Relative image paths are joined to the manifest's folder. A missing
    file or a malformed line is a :class:`DataError` naming the file and line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"manifest not found: {p}")
    dataset = default_dataset or p.stem
    entries: list[ManifestEntry] = []
    with p.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{p}:{lineno}: not JSON ({exc})") from None
            if not isinstance(row, dict):
                raise DataError(f"{p}:{lineno}: expected a JSON object, got {type(row).__name__}")
            entries.append(_entry(row, p.parent, dataset, default_model, f"{p}:{lineno}"))
    if not entries:
        raise DataError(f"manifest {p} lists no images")
    return entries


def _entry(row: dict[str, Any], folder: Path, dataset: str, default_model: str | None, where: str) -> ManifestEntry:
    image, prompt, seed = row.get("image"), row.get("prompt"), row.get("seed")
    model = row.get("model") or default_model
    if not isinstance(image, str) or not image:
        raise DataError(f"{where}: 'image' (a path relative to the manifest's folder) is missing")
    if not isinstance(prompt, str) or not prompt.strip():
        raise DataError(f"{where}: 'prompt' is missing or empty")
    if not isinstance(model, str) or not model:
        raise DataError(f"{where}: 'model' is missing (and no default model was given)")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(f"{where}: 'seed' must be an integer, got {seed!r}")
    image_path = Path(image)
    return ManifestEntry(
        image=image_path if image_path.is_absolute() else folder / image_path,
        prompt=prompt,
        model=model,
        dataset=str(row.get("dataset") or dataset),
        prompt_id=str(row["prompt_id"]) if row.get("prompt_id") not in (None, "") else default_prompt_id(prompt),
        seed=seed,
        extra={k: v for k, v in row.items() if k not in _KNOWN_KEYS},
    )
