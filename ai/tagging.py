"""Tags proposed for a text from its embedding: the tenant's own vocabulary first, then
keyphrases of the text itself.

- Vocabulary (storage/ai_content.py: the type's enum options and the values its objects use in
  array properties): each term whose embedding is similar enough to the text's is proposed.
- Keyphrases, KeyBERT's way: candidates are the text's runs of 1 to 3 consecutive words that are
  not stopwords; each is scored by its embedding's similarity to the text's, and they are chosen
  by maximal marginal relevance (similar to the text, unlike those already chosen).

Deterministic for the same input: scores are rounded to 4 decimals before ranking and ties go to
the alphabetically first term (a batch shared with other requests moves the last float digits).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

MAX_TAGS = 10
MAX_VOCABULARY_TAGS = 5
MAX_KEYPHRASES = 5
MAX_CANDIDATES = 300  # candidate phrases embedded (the most frequent, then the first seen)
MAX_VOCABULARY = 500  # vocabulary terms embedded
VOCABULARY_MIN = 0.3  # cosine similarity a vocabulary term needs to be proposed
KEYPHRASE_MIN = 0.15
MMR_LAMBDA = 0.6
MAX_WORDS = 3
_WORD = re.compile(r"[^\W_][\w'’-]*")
_SEGMENT = re.compile(r"[.,;:!?()\[\]{}\"“”/|\n]+")
STOPWORDS = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
don't down during each either else ever every few for from further get gets got had hadn't has
hasn't have haven't having he he'd he'll he's her here here's hers herself him himself his how
how's however i i'd i'll i'm i've if in into is isn't it it's its itself just let's like may me
might more most much must mustn't my myself need no nor not now of off often on once one only or
other ought our ours ourselves out over own per please rather really same say says shall shan't
she she'd she'll she's should shouldn't since so some such than that that's the their theirs them
themselves then there there's these they they'd they'll they're they've this those though through
thus to too under until up upon us use used very via was wasn't we we'd we'll we're we've well
were weren't what what's when when's where where's whether which while who who's whom whose why
why's will with within without won't would wouldn't yet you you'd you'll you're you've your yours
yourself yourselves
""".split())


def candidates(text: str) -> list[str]:
    """Candidate keyphrases: runs of 1-3 consecutive non-stopwords within a clause, lower case,
    the most frequent first (ties: first seen), at most MAX_CANDIDATES."""
    counts: dict[str, int] = {}
    for segment in _SEGMENT.split(text.lower()):
        words = [w.strip("'’-") for w in _WORD.findall(segment)]
        run: list[str] = []
        for w in [*words, ""]:
            if w and w not in STOPWORDS and len(w) > 1 and not w.isdigit():
                run.append(w)
                continue
            for n in range(1, MAX_WORDS + 1):
                for i in range(len(run) - n + 1):
                    phrase = " ".join(run[i:i + n])
                    counts[phrase] = counts.get(phrase, 0) + 1
            run = []
    ranked = sorted(counts, key=lambda p: -counts[p])  # stable: ties keep first-seen order
    return ranked[:MAX_CANDIDATES]


def _scores(vectors: np.ndarray, doc: np.ndarray) -> list[float]:
    return [round(float(s), 4) for s in vectors @ doc]


def vocabulary_tags(terms: list[str], vectors: np.ndarray, doc: np.ndarray) -> list[dict]:
    """The vocabulary terms similar enough to the text, best first."""
    scored = [(s, t) for s, t in zip(_scores(vectors, doc), terms, strict=True)
              if s >= VOCABULARY_MIN]
    scored.sort(key=lambda st: (-st[0], st[1]))
    return [{"tag": t, "score": s, "source": "vocabulary"}
            for s, t in scored[:MAX_VOCABULARY_TAGS]]


def keyphrases(phrases: list[str], vectors: np.ndarray, doc: np.ndarray,
               count: int = MAX_KEYPHRASES) -> list[dict]:
    """Up to `count` keyphrases by maximal marginal relevance, in the order chosen."""
    relevance = _scores(vectors, doc)
    similar = np.round(vectors @ vectors.T, 4)
    left = [i for i in range(len(phrases)) if relevance[i] >= KEYPHRASE_MIN]
    chosen: list[int] = []
    while left and len(chosen) < count:
        def mmr(i: int) -> float:
            redundancy = max((float(similar[i, j]) for j in chosen), default=0.0)
            return round(MMR_LAMBDA * relevance[i] - (1 - MMR_LAMBDA) * redundancy, 4)

        best = min(left, key=lambda i: (-mmr(i), phrases[i]))
        chosen.append(best)
        left.remove(best)
    return [{"tag": phrases[i], "score": relevance[i], "source": "keyphrase"} for i in chosen]


def merge(*groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The groups' tags in order, without repeats (case-insensitive), at most MAX_TAGS."""
    seen: set[str] = set()
    out = []
    for tag in (t for g in groups for t in g):
        key = tag["tag"].casefold()
        if key not in seen:
            seen.add(key)
            out.append(tag)
    return out[:MAX_TAGS]
