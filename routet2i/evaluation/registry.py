"""Router names on the command line → evaluation candidates.

==================  ===========================================================================
name                candidate
==================  ===========================================================================
``random``          the exact expectation of random routing
``all-edge``        every prompt to the edge (a point at 0 %)
``all-cloud``       every prompt to the cloud (a point at 100 %)
``length``          prompt length in words
``complexity``      the compositional-complexity heuristic (:mod:`routet2i.predictor.cues`)
``oracle``          the true gain (the ceiling; reads the test ratings)
``routellm``        RouteLLM-style "cloud wins" classifier on frozen sentence embeddings
``hybridllm``       Hybrid-LLM-style gap regressor on frozen sentence embeddings
``zooter``          ZOOTER-style reward distillation on frozen sentence embeddings
``routellm-ft``     the same three with the encoder fine-tuned per split, as the originals are
``hybridllm-ft``    (:mod:`.finetuned`; slow on a CPU, so not part of ``baselines``)
``zooter-ft``
``predictor``       the RouteT2I predictor retrained per split (``predictor:SETTINGS.yaml`` for
                    other training settings)
``checkpoint:DIR``  the recipe of the checkpoint in DIR, retrained per split on its own pairs
``recipe:DIR``      the recipe of the checkpoint in DIR, retrained per split on the run's training
                    pairs (by default the evaluated pair: the same model, trained on this pair only)
``frozen:DIR``      the checkpoint in DIR as it is (refused on prompts it was trained on)
==================  ===========================================================================

``baselines`` expands to the first nine (the cheap baselines).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from routet2i.errors import ConfigError
from routet2i.evaluation.baselines import (
    ComplexityCandidate,
    LengthCandidate,
    OracleCandidate,
    RandomCandidate,
    all_cloud,
    all_edge,
)
from routet2i.evaluation.candidates import Candidate
from routet2i.evaluation.embeddings import EmbeddingCache
from routet2i.evaluation.encoder_memo import EncoderPool
from routet2i.evaluation.learned import HybridLLMCandidate, RouteLLMCandidate, ZooterCandidate
from routet2i.ratings.table import RatingsTable

BASELINES: tuple[str, ...] = (
    "random",
    "all-edge",
    "all-cloud",
    "length",
    "complexity",
    "oracle",
    "routellm",
    "hybridllm",
    "zooter",
)
FINE_TUNED: tuple[str, ...] = ("routellm-ft", "hybridllm-ft", "zooter-ft")
PREFIXED = ("predictor", "checkpoint:", "recipe:", "frozen:")


@dataclass
class CandidateFactory:
    """Builds candidates sharing one encoder pool and one embedding cache."""

    table: RatingsTable
    embedding_encoder: str = "minilm"
    device: str = "cpu"
    workdir: Path | None = None
    allow_seen: bool = False
    pool: EncoderPool = field(init=False)
    cache: EmbeddingCache = field(init=False)

    def __post_init__(self) -> None:
        self.pool = EncoderPool(device=self.device)
        self.cache = EmbeddingCache(spec=self.embedding_encoder, pool=self.pool)

    def expand(self, names: Sequence[str]) -> list[str]:
        out: list[str] = []
        for n in names:
            for item in BASELINES if n == "baselines" else (n,):
                if item not in out:
                    out.append(item)
        return out

    def build(self, name: str) -> Candidate:
        simple: dict[str, Candidate] = {
            "random": RandomCandidate(),
            "length": LengthCandidate(),
            "complexity": ComplexityCandidate(),
            "oracle": OracleCandidate(),
        }
        if name in simple:
            return simple[name]
        if name == "all-edge":
            return all_edge()
        if name == "all-cloud":
            return all_cloud()
        if name == "routellm":
            return RouteLLMCandidate(cache=self.cache)
        if name == "hybridllm":
            return HybridLLMCandidate(cache=self.cache)
        if name == "zooter":
            return ZooterCandidate(cache=self.cache)
        if name in FINE_TUNED:
            from routet2i.evaluation.finetuned import FineTunedCandidate

            return FineTunedCandidate(
                name=name, kind=name.removesuffix("-ft"), spec=self.embedding_encoder, pool=self.pool
            )
        if name == "predictor" or name.startswith("predictor:"):
            return self._predictor(name)
        if name.startswith(("checkpoint:", "recipe:")):
            return self._checkpoint(name)
        if name.startswith("frozen:"):
            from routet2i.evaluation.predictor_candidates import FrozenCheckpointCandidate

            directory = Path(name.split(":", 1)[1])
            return FrozenCheckpointCandidate(
                name=name,
                description=f"checkpoint {directory} as it is (not retrained)",
                directory=directory,
                encoders=self.pool,
                allow_seen=self.allow_seen,
            )
        known = ", ".join(
            (*BASELINES, "baselines", *FINE_TUNED, "predictor[:SETTINGS]", "checkpoint:DIR", "recipe:DIR", "frozen:DIR")
        )
        raise ConfigError(f"unknown router {name!r}; known: {known}")

    def _predictor(self, name: str) -> Candidate:
        from routet2i.evaluation.predictor_candidates import PredictorCandidate
        from routet2i.predictor.settings import TrainingSettings

        path = name.split(":", 1)[1] if ":" in name else None
        settings = TrainingSettings.load(path)
        settings.split.calibration = 0.0
        return PredictorCandidate(
            name=name,
            description="RouteT2I predictor (training settings "
            + (path or "configs/training.yaml")
            + "), retrained per split",
            table=self.table,
            settings=settings,
            encoders=self.pool,
            workdir=self.workdir,
        )

    def _checkpoint(self, name: str) -> Candidate:
        from routet2i.evaluation.predictor_candidates import (
            PredictorCandidate,
            checkpoint_pairs,
            settings_from_checkpoint,
        )

        kind, _, folder = name.partition(":")
        directory = Path(folder)
        own_pairs = kind == "checkpoint"
        return PredictorCandidate(
            name=name,
            description=f"the recipe of checkpoint {directory}, retrained per split on "
            + ("its own pairs" if own_pairs else "the run's training pairs"),
            table=self.table,
            settings=settings_from_checkpoint(directory),
            encoders=self.pool,
            workdir=self.workdir,
            train_pairs=checkpoint_pairs(directory) if own_pairs else None,
        )

    def build_all(self, names: Sequence[str]) -> list[Candidate]:
        return [self.build(n) for n in self.expand(names)]
