"""Synthetic ratings with a known structure, a tiny BERT and tiny predictor settings.

Two datasets, two metrics. The cloud's gain is driven by the prompt's complexity: a prompt with
counts, colours and spatial relations gains +2 from the cloud, a bare noun loses 0.5 (plus small
noise), so the complexity heuristic ranks well and the oracle knows exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from routet2i.ratings.table import Rating, RatingsTable

OBJECTS = ["dog", "cat", "car", "tree", "house", "bird", "chair", "lamp", "boat", "apple", "clock", "horse"]
COLOURS = ["red", "blue", "green", "yellow", "black"]


def synthetic_rows(dataset: str, n: int, seed: int, offset: int = 0) -> list[Rating]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        a, b = OBJECTS[(i + offset) % len(OBJECTS)], OBJECTS[(3 * i + 1 + offset) % len(OBJECTS)]
        complex_ = i % 2 == 0
        if complex_:
            prompt = f"three {COLOURS[i % 5]} {a}s next to two {b}s on a table, number {i + offset}"
            gain = 2.0
        else:
            prompt = f"a {a} number {i + offset}"
            gain = -0.5
        for metric in ("alignment", "quality"):
            edge = 3.0 + rng.normal(0, 0.2)
            cloud = edge + gain + rng.normal(0, 0.2)
            for model, score in (("light", edge), ("heavy", cloud), ("twin", edge + rng.normal(0, 0.3))):
                rows.append(Rating(dataset, str(i), prompt, model, "0", metric, float(score), "synthetic"))
    return rows


@pytest.fixture(scope="session")
def synthetic_table() -> RatingsTable:
    return RatingsTable(synthetic_rows("synth-a", 40, 0) + synthetic_rows("synth-b", 30, 1, offset=100))


@pytest.fixture(scope="session")
def synthetic_ratings(tmp_path_factory: pytest.TempPathFactory, synthetic_table: RatingsTable) -> Path:
    path = tmp_path_factory.mktemp("ratings") / "synthetic.jsonl"
    synthetic_table.write(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from routet2i.testing.text_encoders import save_tiny_bert

    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_training_yaml(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    """Training settings of a tiny predictor on the tiny BERT (a few seconds to train)."""
    settings = {
        "encoder": f"hf:{tiny_bert_dir}",
        "architecture": {"top_k": 4, "rank": 4, "hidden": 8, "head_hidden": 0},
        "optimisation": {"epochs": 3, "patience": 0, "batch_size": 16, "lr": 1e-3},
        "split": {"validation": 0.25, "calibration": 0.0},
    }
    path = tmp_path_factory.mktemp("settings") / "tiny-training.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path
