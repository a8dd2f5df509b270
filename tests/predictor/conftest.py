"""Predictor tests run torch single-threaded (restored afterwards).

The models here are tiny: extra intra-op threads only add synchronisation, and on a busy 2-core
machine they make each forward pass tens of times slower.

``edited_lexicon`` installs an edited copy of the cue lexicon for one test (one more people word).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from routet2i.predictor import cues
from tests.torch_threads import one_torch_thread


@pytest.fixture(autouse=True, scope="package")
def _single_torch_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture
def edited_lexicon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The installed lexicon becomes a copy with "robot" added to the people words; yields the
    copy's sha256 (the real one is back, and re-read, after the test)."""
    data = json.loads(cues.LEXICON_FILE.read_text(encoding="utf-8"))
    data["cues"]["people"].append("robot")
    path = tmp_path / "cue_lexicon.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    cues.lexicon.cache_clear()
    monkeypatch.setattr(cues, "LEXICON_FILE", path)
    yield cues.lexicon_sha256()
    cues.lexicon.cache_clear()
