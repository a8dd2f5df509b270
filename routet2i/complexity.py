r"""A light prompt-complexity heuristic: the paper's key observation without a parser.

RouteT2I observes that the more nouns (objects) a prompt has, the more the large model wins:
light models drop objects, miscount, mix attributes up and ignore spatial relations and text to
render. No tagger or parser model is available offline, so this module counts surface cues with
small word lists (English only, lower-cased, punctuation-split):

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
other known weak spot, not a fitted one. :func:`features` exposes every count (plus ``words``, the prompt length) for learned
routers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "it",
        "its",
        "it's",
        "they",
        "them",
        "their",
        "theirs",
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "we",
        "us",
        "our",
        "you",
        "your",
        "i",
        "me",
        "my",
        "mine",
        "who",
        "whom",
        "whose",
        "which",
        "what",
        "where",
        "when",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "done",
        "has",
        "have",
        "had",
        "having",
        "can",
        "could",
        "will",
        "would",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "let",
        "lets",
        "get",
        "gets",
        "got",
        "of",
        "to",
        "for",
        "from",
        "by",
        "at",
        "as",
        "into",
        "onto",
        "upon",
        "about",
        "via",
        "per",
        "and",
        "or",
        "but",
        "yet",
        "so",
        "if",
        "then",
        "than",
        "while",
        "whilst",
        "because",
        "though",
        "although",
        "also",
        "only",
        "just",
        "even",
        "very",
        "really",
        "quite",
        "rather",
        "too",
        "much",
        "such",
        "some",
        "any",
        "all",
        "each",
        "every",
        "both",
        "either",
        "other",
        "another",
        "same",
        "own",
        "out",
        "up",
        "off",
        "down",
        "away",
        "back",
        "again",
        "ever",
        "still",
        "already",
        "once",
        "like",
        "unlike",
        "within",
        "without",
        "image",
        "picture",
        "photo",
        "photograph",
        "painting",
        "drawing",
        "illustration",
        "render",
        "rendering",
        "artwork",
        "scene",
        "view",
        "shot",
        "style",
        "art",
        "depiction",
    ]
)

COMMON_VERBS = frozenset(
    [
        "stands",
        "standing",
        "stand",
        "sits",
        "sitting",
        "sit",
        "lies",
        "lying",
        "lie",
        "holds",
        "holding",
        "hold",
        "looks",
        "looking",
        "look",
        "walks",
        "walking",
        "walk",
        "runs",
        "running",
        "run",
        "plays",
        "playing",
        "play",
        "flies",
        "flying",
        "fly",
        "swims",
        "swimming",
        "makes",
        "making",
        "make",
        "takes",
        "taking",
        "take",
        "gives",
        "giving",
        "give",
        "goes",
        "going",
        "go",
        "comes",
        "coming",
        "come",
        "shows",
        "showing",
        "show",
        "uses",
        "using",
        "use",
        "wears",
        "wearing",
        "wear",
        "eats",
        "eating",
        "eat",
        "drinks",
        "drinking",
        "drink",
        "reads",
        "reading",
        "writes",
        "writing",
        "watches",
        "watching",
        "waits",
        "waiting",
        "rides",
        "riding",
        "ride",
        "carries",
        "carrying",
        "filled",
        "covered",
        "made",
        "placed",
        "surrounded",
        "featuring",
        "shaped",
        "colored",
        "coloured",
        "painted",
        "seen",
    ]
)

NUMBER_WORDS = frozenset(
    [
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "hundred",
        "thousand",
        "dozen",
        "dozens",
        "several",
        "many",
        "few",
        "multiple",
        "pair",
        "pairs",
        "couple",
        "trio",
        "quartet",
        "half",
        "single",
        "double",
        "triple",
        "numerous",
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
    ]
)

SPATIAL_WORDS = frozenset(
    [
        "on",
        "under",
        "above",
        "below",
        "beneath",
        "behind",
        "beside",
        "between",
        "near",
        "inside",
        "outside",
        "over",
        "underneath",
        "atop",
        "around",
        "across",
        "against",
        "along",
        "among",
        "amid",
        "through",
        "toward",
        "towards",
        "left",
        "right",
        "top",
        "bottom",
        "middle",
        "center",
        "centre",
        "front",
        "back",
        "corner",
        "edge",
        "upon",
        "onto",
        "within",
    ]
)

SPATIAL_PHRASES = ("next to", "in front of", "on top of", "to the left", "to the right", "far from", "close to")

ATTRIBUTE_WORDS = frozenset(
    [
        "red",
        "orange",
        "yellow",
        "green",
        "blue",
        "purple",
        "violet",
        "pink",
        "brown",
        "black",
        "white",
        "gray",
        "grey",
        "silver",
        "golden",
        "gold",
        "beige",
        "cyan",
        "magenta",
        "turquoise",
        "teal",
        "maroon",
        "navy",
        "crimson",
        "scarlet",
        "ivory",
        "colorful",
        "colourful",
        "wooden",
        "wood",
        "metal",
        "metallic",
        "glass",
        "plastic",
        "stone",
        "marble",
        "paper",
        "leather",
        "cotton",
        "silk",
        "woolen",
        "wool",
        "steel",
        "iron",
        "brass",
        "copper",
        "ceramic",
        "porcelain",
        "crystal",
        "rubber",
        "velvet",
        "denim",
        "concrete",
        "brick",
        "small",
        "large",
        "big",
        "tiny",
        "huge",
        "giant",
        "little",
        "tall",
        "short",
        "long",
        "wide",
        "narrow",
        "thick",
        "thin",
        "fat",
        "slim",
        "round",
        "square",
        "rectangular",
        "triangular",
        "circular",
        "oval",
        "spherical",
        "cubic",
        "curved",
        "flat",
        "striped",
        "spotted",
        "fluffy",
        "shiny",
        "glossy",
        "matte",
        "rough",
        "smooth",
        "soft",
        "hard",
        "furry",
        "transparent",
        "translucent",
        "wet",
        "dry",
        "old",
        "young",
        "new",
        "ancient",
        "modern",
        "vintage",
        "bright",
        "dark",
        "pale",
    ]
)

NEGATION_WORDS = frozenset(["no", "not", "without", "none", "nothing", "neither", "nor", "never", "nobody", "nowhere"])

COMPARISON_WORDS = frozenset(["than", "more", "fewer", "less", "most", "least"])

TEXT_CUES = frozenset(
    [
        "sign",
        "signs",
        "reads",
        "reading",
        "saying",
        "says",
        "written",
        "writing",
        "text",
        "word",
        "words",
        "letter",
        "letters",
        "lettering",
        "labeled",
        "labelled",
        "label",
        "caption",
        "title",
        "logo",
        "slogan",
        "banner",
        "headline",
        "spelled",
        "spelling",
        "font",
    ]
)

PEOPLE_WORDS = frozenset(
    """man men woman women person people persons girl girls boy boys child children kid kids baby babies
    toddler teenager teen lady ladies gentleman guy guys human humans face faces portrait portraits selfie
    headshot hand hands finger fingers body bodies family crowd player players dancer dancers
    mother father mom dad daughter son sister brother grandmother grandfather grandma grandpa wife husband
    bride groom king queen prince princess emperor empress knight warrior soldier soldiers chef doctor
    nurse teacher student students farmer worker workers wizard witch astronaut pilot athlete athletes
    singer musician actor actress model supermodel businessman businesswoman policeman fireman cowboy
    pirate samurai ninja monk priest nun elf elves goblin goblins android cyborg""".split()  # noqa: SIM905
)

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
_CONJUNCTS = frozenset(["and", "with", "while", "but", "yet", "or", "plus"])


#: word lists in the order a word is looked up (the first list holding it decides its cue).
_LEXICON: tuple[tuple[str, frozenset[str]], ...] = (
    ("counts", NUMBER_WORDS),
    ("negation", NEGATION_WORDS),
    ("comparison", COMPARISON_WORDS),
    ("conjuncts", _CONJUNCTS),
    ("spatial", SPATIAL_WORDS),
    ("attributes", ATTRIBUTE_WORDS),
    ("text", TEXT_CUES),
    ("people", PEOPLE_WORDS),
)


def _category(w: str) -> str | None:
    """The cue one lower-cased word counts for (None: a function word, verb or adverb)."""
    if w[0].isdigit():
        return "counts"
    if w.endswith("n't"):
        return "negation"
    for name, words in _LEXICON:
        if w in words:
            return name
    if len(w) >= 3 and w not in FUNCTION_WORDS and w not in COMMON_VERBS and not w.endswith("ly"):
        return "nouns"
    return None


def features(prompt: str) -> dict[str, float]:
    """Counts of the complexity cues in ``prompt`` (see the module table), plus ``words``."""
    text = prompt.lower()
    quoted = [m.group(1) or m.group(2) for m in _QUOTED.finditer(prompt)]
    quoted_words = sum(len(_WORD.findall(q.lower())) for q in quoted)
    unquoted = _QUOTED.sub(" ", prompt).lower()
    words = _WORD.findall(unquoted)
    n = Counter(c for c in map(_category, words) if c is not None)
    spatial = n["spatial"] + sum(text.count(p) for p in SPATIAL_PHRASES)
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
