r"""Prompt-feature cues: the predictor's featurizer, and the paper's key observation without a parser.

RouteT2I observes that the more nouns (objects) a prompt has, the more the large model wins:
light models drop objects, miscount, mix attributes up and ignore spatial relations and text to
render. No tagger or parser model is available offline, so this module counts surface cues with
small word lists (English only, lower-cased, punctuation-split), kept as package data in
``routet2i/predictor/data/cue_lexicon.json`` (:data:`LEXICON_FILE`, read once on first use):

==============  =====================================================================  ======
feature         what is counted                                                         weight
==============  =====================================================================  ======
``nouns``       noun-like words: words of 3+ letters that are not function words,      1.0
                attribute, count, spatial, negation or comparison words, not adverbs
                (``-ly``) and not in a short list of common verbs
``counts``      numerals and count words (two … twenty, dozen, several, pair, …)        1.5
``conjuncts``   ``and``, ``with``, ``while``, ``but``, ``yet``, ``or``, commas, ``;``   0.5
``spatial``     spatial prepositions and phrases (on, under, behind, next to, …)        1.0
``attributes``  colours, materials, sizes, shapes, textures                              0.5
``text``        text to render: each quoted span counts 1 + its words / 2, and cue      2.0
                words (sign, reads, saying, written, labeled, logo, …)
``people``      people and human anatomy: man, woman, girl, child, crowd, face,         2.0
                portrait, hands, fingers, professions and roles (chef, knight, …);
                not counted as nouns
``negation``    no, not, without, none, nothing, neither, nor, never, n't               0
``comparison``  than, more, fewer, less, most, -er-than phrases                          0
==============  =====================================================================  ======

The heuristic score is the weighted sum (weights set a priori from the observation, not fitted to
any evaluation data). Higher → more complex → send to the cloud first. Negation and comparison
are counted but weigh nothing: they are not part of the paper's observation, and on GenAI-Bench
negated prompts defeat the large models as well, so the cloud's *gain* on them is smaller, not
larger. ``people`` is not in the paper either: small diffusion models are known to fail on
human anatomy (faces, hands, bodies), and on AGIQA-3K, where object counts say nothing about the
cloud's gain, prompts about people are where SDXL and Midjourney gain most over SD 1.5. It was
added after looking at those prompts (see docs/EVALUATION.md), with the weight of ``text``, the
other known weak spot, not a fitted one. :func:`features` exposes every count (plus ``words``, the
prompt length) for learned routers: the predictor's prompt-feature path
(:mod:`routet2i.predictor.prompt_features`) and the ``complexity`` baseline.

**The lexicon.** The file holds one word list per listed cue (``counts``, ``negation``,
``comparison``, ``conjuncts``, ``spatial``, ``attributes``, ``text``, ``people``) with the order
they are looked up in (a word counts for the first list that holds it), the spatial phrases, and
the function words and common verbs that are never nouns. The rules around the lists stay in code
(numerals count, ``n't`` negates, ``-ly`` adverbs and words under 3 letters are not nouns, quoted
spans, ``-er than``, commas and semicolons). A checkpoint whose model uses prompt features records
:func:`lexicon_sha256`, the sha256 of the lexicon's canonical JSON (:meth:`Lexicon.canonical`), and
refuses to load under a different lexicon (:mod:`routet2i.predictor.checkpoint`): its cue weights
were learned on the counts the old lists gave.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from routet2i.config import read_json_object
from routet2i.errors import ConfigError

#: the installed lexicon: package data, shipped in the wheel, read once on first use.
LEXICON_FILE = Path(__file__).resolve().parent / "data" / "cue_lexicon.json"

#: the cues a word list can give (``nouns`` is what no list claims; ``words`` counts every word).
LISTED_CUES: frozenset[str] = frozenset(
    ["counts", "negation", "comparison", "conjuncts", "spatial", "attributes", "text", "people"]
)

_LEXICON_KEYS = ("lookup_order", "cues", "spatial_phrases", "function_words", "common_verbs")


@dataclass(frozen=True)
class Lexicon:
    """The word lists of the cues (the contents of ``cue_lexicon.json``, validated)."""

    #: (cue, its words) in lookup order: a word counts for the first cue whose list holds it.
    lookup: tuple[tuple[str, frozenset[str]], ...]
    #: multi-word spatial phrases, counted as substrings of the lower-cased prompt.
    spatial_phrases: tuple[str, ...]
    #: words that are never nouns (articles, pronouns, auxiliaries, "image", "style", …).
    function_words: frozenset[str]
    #: common verbs and participles, never nouns either.
    common_verbs: frozenset[str]

    @cached_property
    def cue_of(self) -> dict[str, str]:
        """word → the cue it counts for (the first list in lookup order that holds it)."""
        out: dict[str, str] = {}
        for cue, words in self.lookup:
            for w in words:
                out.setdefault(w, cue)
        return out

    def canonical(self) -> bytes:
        """The lexicon as canonical JSON (UTF-8, sorted keys, no spaces; each word list sorted,
        the lookup order kept): what :attr:`sha256` hashes. Formatting, the order of words inside
        a list and the file's ``about`` note do not change it; any word, phrase or lookup-order
        change does."""
        doc = {
            "lookup": [[cue, sorted(words)] for cue, words in self.lookup],
            "spatial_phrases": sorted(self.spatial_phrases),
            "function_words": sorted(self.function_words),
            "common_verbs": sorted(self.common_verbs),
        }
        return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @cached_property
    def sha256(self) -> str:
        """sha256 (hex) of :meth:`canonical`; a checkpoint trained on prompt features records it."""
        return hashlib.sha256(self.canonical()).hexdigest()


def read_lexicon(path: str | Path) -> Lexicon:
    """Read and validate a lexicon file (a :class:`~routet2i.errors.ConfigError` says what is wrong)."""
    p = Path(path)
    data = read_json_object(p, label="cue lexicon")
    missing = [k for k in _LEXICON_KEYS if k not in data]
    unknown = sorted(set(data) - {*_LEXICON_KEYS, "about"})
    if missing or unknown:
        raise ConfigError(f"cue lexicon {p}: missing keys {missing}, unknown keys {unknown}")
    order = _words(data["lookup_order"], p, "lookup_order")
    if set(order) != LISTED_CUES:
        raise ConfigError(f"cue lexicon {p}: lookup_order must order exactly {sorted(LISTED_CUES)}, got {order}")
    cues = data["cues"]
    if not isinstance(cues, dict) or set(cues) != LISTED_CUES:
        got = sorted(cues) if isinstance(cues, dict) else cues
        raise ConfigError(f"cue lexicon {p}: cues must have one word list for each of {sorted(LISTED_CUES)}, got {got}")
    return Lexicon(
        lookup=tuple((cue, frozenset(_words(cues[cue], p, f"cues.{cue}", single=True))) for cue in order),
        spatial_phrases=tuple(_words(data["spatial_phrases"], p, "spatial_phrases")),
        function_words=frozenset(_words(data["function_words"], p, "function_words", single=True)),
        common_verbs=frozenset(_words(data["common_verbs"], p, "common_verbs", single=True)),
    )


def _words(value: Any, path: Path, key: str, *, single: bool = False) -> list[str]:
    """A list of distinct lower-case strings (``single``: each one word as the tokenizer splits it)."""
    if not isinstance(value, list) or not all(isinstance(w, str) and w for w in value):
        raise ConfigError(f"cue lexicon {path}: {key} must be a list of non-empty strings")
    bad = [w for w in value if w != w.lower() or (single and not _WORD.fullmatch(w))]
    if bad:
        kind = "single lower-case words" if single else "lower-case"
        raise ConfigError(f"cue lexicon {path}: {key} must hold {kind}, not {bad[:5]}")
    repeated = sorted({w for w in value if value.count(w) > 1})
    if repeated:
        raise ConfigError(f"cue lexicon {path}: {key} repeats {repeated[:5]}")
    return list(value)


@functools.cache
def lexicon() -> Lexicon:
    """The installed lexicon (:data:`LEXICON_FILE`), read on first use and kept."""
    return read_lexicon(LEXICON_FILE)


def lexicon_sha256() -> str:
    """:attr:`Lexicon.sha256` of the installed lexicon."""
    return lexicon().sha256


#: feature name → weight in the heuristic score (see the module table).
WEIGHTS: dict[str, float] = {
    "nouns": 1.0,
    "counts": 1.5,
    "conjuncts": 0.5,
    "spatial": 1.0,
    "attributes": 0.5,
    "text": 2.0,
    "people": 2.0,
}

#: every feature :func:`features` returns, in a fixed order.
FEATURE_NAMES: tuple[str, ...] = ("words", *WEIGHTS, "negation", "comparison")

_QUOTED = re.compile(r"[\"“”]([^\"“”]{1,80})[\"“”]|(?<![A-Za-z])'([^']{1,80})'(?![A-Za-z])")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)?")


def _category(w: str, lex: Lexicon) -> str | None:
    """The cue one lower-cased word counts for (None: a function word, verb or adverb)."""
    if w[0].isdigit():
        return "counts"
    if w.endswith("n't"):
        return "negation"
    cue = lex.cue_of.get(w)
    if cue is not None:
        return cue
    if len(w) >= 3 and w not in lex.function_words and w not in lex.common_verbs and not w.endswith("ly"):
        return "nouns"
    return None


def features(prompt: str) -> dict[str, float]:
    """Counts of the complexity cues in ``prompt`` (see the module table), plus ``words``."""
    text = prompt.lower()
    quoted = [m.group(1) or m.group(2) for m in _QUOTED.finditer(prompt)]
    quoted_words = sum(len(_WORD.findall(q.lower())) for q in quoted)
    unquoted = _QUOTED.sub(" ", prompt).lower()
    words = _WORD.findall(unquoted)
    lex = lexicon()
    n = Counter(c for c in (_category(w, lex) for w in words) if c is not None)
    spatial = n["spatial"] + sum(text.count(p) for p in lex.spatial_phrases)
    comparison = n["comparison"] + len(re.findall(r"\b\w+er than\b", text))
    conj = n["conjuncts"] + unquoted.count(",") + unquoted.count(";")
    return {
        "words": float(len(words) + quoted_words),
        "nouns": float(n["nouns"]),
        "counts": float(n["counts"]),
        "conjuncts": float(conj),
        "spatial": float(spatial),
        "attributes": float(n["attributes"]),
        "text": float(len(quoted) + quoted_words / 2.0 + n["text"]),
        "people": float(n["people"]),
        "negation": float(n["negation"]),
        "comparison": float(comparison),
    }


def complexity_score(prompt: str) -> float:
    """The weighted sum of :func:`features` with :data:`WEIGHTS` (higher → cloud first)."""
    f = features(prompt)
    return float(sum(WEIGHTS[k] * f[k] for k in WEIGHTS))


def feature_matrix(prompts: Sequence[str], names: Sequence[str] = FEATURE_NAMES) -> NDArray[np.float64]:
    """(P, len(names)) matrix of :func:`features`, columns in ``names`` order (all by default)."""
    rows = [features(p) for p in prompts]
    return np.asarray([[r[k] for k in names] for r in rows], dtype=np.float64).reshape(len(rows), len(names))
