"""The metric set: the shipped ten metrics, and validation of user-edited sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from routet2i.errors import ConfigError
from routet2i.quality.metrics import DEFAULT_METRICS_FILE, MetricSet, load_metric_set

PAPER_METRICS = [
    "definition", "detail", "clarity", "sharpness", "harmony",
    "realism", "color", "consistency", "layout", "integrity",
]  # fmt: skip


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "metrics.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def metric(name: str, weight: float = 1.0, **kwargs: Any) -> dict[str, Any]:
    return {"name": name, "positive": f"Good {name} photo", "negative": f"Bad {name} photo", "weight": weight, **kwargs}


def test_default_set_is_the_papers_ten_metrics_with_provenance() -> None:
    ms = load_metric_set()
    assert load_metric_set(DEFAULT_METRICS_FILE) == ms
    assert ms.names == PAPER_METRICS and not ms.alignment.enabled
    definition = ms.metrics[0]
    assert (definition.positive, definition.negative, definition.provenance) == (
        "High definition photo", "Low definition photo", "paper",
    )  # fmt: skip
    assert all(m.provenance.startswith("not from the paper: ") for m in ms.metrics[1:])
    assert len(ms.texts) == 20  # every text distinct
    assert ms.normalised_weights() == pytest.approx(dict.fromkeys(PAPER_METRICS, 0.1))


def test_user_can_drop_reword_and_reweight(tmp_path: Path) -> None:
    data = {
        "name": "mine",
        "metrics": [
            metric("sharpness", 3.0, positive="Crisp photo", negative="Smeared photo"),
            metric("definition", 1.0, provenance="paper"),
            metric("nsfw_free", 0.0),
        ],
    }
    ms = load_metric_set(write(tmp_path, data))
    assert ms.names == ["sharpness", "definition", "nsfw_free"]
    assert ms.metrics[0].positive == "Crisp photo" and ms.metrics[2].provenance.startswith("not from the paper")
    assert ms.normalised_weights() == pytest.approx({"sharpness": 0.75, "definition": 0.25, "nsfw_free": 0.0})


def test_alignment_joins_the_names_and_weights_when_enabled(tmp_path: Path) -> None:
    only_alignment_weighted = {
        "name": "a",
        "metrics": [metric("sharpness", 0.0)],
        "alignment": {"enabled": True, "convention": "clipscore", "weight": 2.0},
    }
    ms = load_metric_set(write(tmp_path, only_alignment_weighted))
    assert ms.names == ["sharpness", "alignment"]
    assert ms.normalised_weights() == {"sharpness": 0.0, "alignment": 1.0}
    assert load_metric_set().with_alignment(True).names[-1] == "alignment"


@pytest.mark.parametrize(
    ("metrics", "alignment", "expected"),
    [
        ([metric("sharpness"), metric("Sharpness")], {}, "duplicate metric name 'Sharpness'"),
        ([metric("a", 0.0), metric("b", 0.0)], {}, "every weight is 0"),
        ([metric("a", 0.0)], {"enabled": False, "weight": 1.0}, "every weight is 0"),
        ([], {}, "no metric to score"),
        ([metric("a", -1.0)], {}, "field 'metrics.0.weight' = -1.0"),
        (
            [metric("a", positive="Sharp photo", negative="sharp photo ")],
            {},
            "positive and negative texts are the same",
        ),
        ([metric("alignment")], {}, "reserved"),
        ([metric("a", provenance="made up")], {}, "field 'metrics.0.provenance'"),
        ([metric("two words")], {}, "field 'metrics.0.name'"),
        ([{**metric("a"), "postive": "typo"}], {}, "field 'metrics.0.postive'"),
        ([metric("a")], {"convention": "dot"}, "field 'alignment.convention'"),
    ],
)
def test_invalid_sets_are_config_errors_naming_the_field(
    tmp_path: Path, metrics: list[dict[str, Any]], alignment: dict[str, Any], expected: str
) -> None:
    path = write(tmp_path, {"name": "bad", "metrics": metrics, "alignment": alignment})
    with pytest.raises(ConfigError) as info:
        load_metric_set(path)
    message = str(info.value)
    assert expected in message and str(path) in message
    if "weight is 0" in expected or "duplicate" in expected:
        assert "field 'metrics'" in message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_metric_set(tmp_path / "nope.yaml")


def test_metric_set_validates_when_built_in_code() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        MetricSet.model_validate({"name": "x", "metrics": [metric("a"), metric("a")]})
