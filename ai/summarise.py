"""Extractive summaries on the embeddings: the local generation model would invent, so a summary
is made of the text's own sentences.

The sentences nearest the text's centroid (the mean of their normalised embeddings: what the
text is mostly about) are chosen one at a time by maximal marginal relevance (relevance to the
centroid, less similarity to those already chosen: no two sentences saying the same), while
they fit in `max_length` characters, then given in their original order.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

MAX_SENTENCES = 256  # sentences embedded per summary (the text's first ones)
MMR_LAMBDA = 0.7  # weight of relevance against redundancy
JOIN = " "
ELLIPSIS = "…"
_BOUNDARY = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"')\]])\s+|\n+")
_END = re.compile(r"[.!?…][\"')\]]*$")


def sentences(parts: list[dict[str, Any]]) -> list[str]:
    """The sentences of an object's text properties, in order: each property's text split at
    sentence ends and line breaks; one not ending a sentence (a title) gets a full stop."""
    out: list[str] = []
    for part in parts:
        found = [s.strip() for s in _BOUNDARY.split(part["text"]) if s and s.strip()]
        if found and not _END.search(found[-1]):  # a title: a full stop, so summaries read
            found[-1] += "."
        out.extend(found)
    return out[:MAX_SENTENCES]


def cut(text: str, max_length: int) -> str:
    """`text` within `max_length` characters: whole, or cut at a word boundary with an
    ellipsis."""
    if len(text) <= max_length:
        return text
    head = text[:max_length - len(ELLIPSIS)]
    if " " in head:
        head = head[:head.rindex(" ")]
    return head.rstrip(" ,;:") + ELLIPSIS


def choose(texts: list[str], vectors: np.ndarray, max_length: int,
           mmr_lambda: float = MMR_LAMBDA) -> list[int]:
    """Indexes of the sentences making the summary, in text order (see the module docstring).
    Deterministic: ties go to the earlier sentence."""
    centroid = vectors.mean(axis=0)
    centroid /= np.linalg.norm(centroid) or 1.0
    relevance = vectors @ centroid
    similar = vectors @ vectors.T
    chosen: list[int] = []
    used = 0
    left = set(range(len(texts)))
    while left:
        def mmr(i: int) -> float:
            redundancy = max((float(similar[i, j]) for j in chosen), default=0.0)
            return round(mmr_lambda * float(relevance[i]) - (1 - mmr_lambda) * redundancy, 6)

        fits = [i for i in left if used + len(texts[i]) + (len(JOIN) if chosen else 0)
                <= max_length]
        if not fits:
            break
        best = max(fits, key=lambda i: (mmr(i), -i))
        used += len(texts[best]) + (len(JOIN) if chosen else 0)
        chosen.append(best)
        left.discard(best)
    return sorted(chosen)


def most_central(vectors: np.ndarray) -> int:
    """The sentence nearest the centroid (cut to size when no sentence fits whole)."""
    centroid = vectors.mean(axis=0)
    return int(np.argmax(np.round(vectors @ centroid, 6)))
