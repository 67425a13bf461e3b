"""Catalogue search: what a business user types, ranked the way they expect.

The catalogue holds a few hundred products at most, so ranking happens in
Python over the published products the page loads anyway; that keeps one
behaviour on SQLite and PostgreSQL and lets us forgive typos ("vlna" finds
"VLAN") without a search engine. Every word of the query must match the
product somewhere (name, tags, squad, category or summary); a word matched in
the name counts more than one matched in the summary, an exact word more than
a prefix, a prefix more than a typo.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, Protocol, TypeVar

_WORD = re.compile(r"[a-z0-9]+")

#: How much a match in each part of a product counts.
FIELD_WEIGHTS = {"name": 8.0, "tags": 5.0, "squad": 3.0, "category": 3.0, "summary": 2.0}
EXACT, PREFIX, TYPO, INSIDE = 1.0, 0.75, 0.55, 0.4
#: Added when the whole query appears as typed in the product's name.
PHRASE_BONUS = 6.0


class Searchable(Protocol):
    """What search needs of a product (a ``catalogue.models.Product`` fits, and
    so does a frozen ``CatalogueEntry``: search only reads these)."""

    @property
    def name(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def tags(self) -> str: ...


#: A product type that search hands back as it was given.
P = TypeVar("P", bound=Searchable)


def normalize(text: str) -> str:
    """Lower case without accents, so "Réseau" and "reseau" are the same word."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(char for char in decomposed if not unicodedata.combining(char)).lower()


def words_of(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


def typo_distance(left: str, right: str, limit: int) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from ``left`` to
    ``right``; anything above ``limit`` is reported as ``limit + 1`` early, so
    comparing against a whole vocabulary stays cheap."""
    if abs(len(left) - len(right)) > limit:
        return limit + 1
    previous_previous: list[int] = []
    previous = list(range(len(right) + 1))
    for i, left_char in enumerate(left, start=1):
        current = [i] + [0] * len(right)
        for j, right_char in enumerate(right, start=1):
            cost = 0 if left_char == right_char else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and left_char == right[j - 2] and left[i - 2] == right_char:
                current[j] = min(current[j], previous_previous[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous_previous, previous = previous, current
    return previous[-1]


def typo_allowance(word: str) -> int:
    """Short words must be typed right: one typo in "vm" is another word."""
    if len(word) < 4:
        return 0
    return 1 if len(word) < 8 else 2


@dataclass(frozen=True)
class _Document:
    fields: dict[str, tuple[str, frozenset[str]]]  # field -> (normalized text, its words)


@dataclass(frozen=True)
class Hit(Generic[P]):
    """A product that matches the query, with its score (higher is better)."""

    product: P
    score: float


class _Matcher:
    """Scores one query word against fields, remembering typo checks per word
    of the vocabulary so a large catalogue costs one check per distinct word."""

    def __init__(self, query_word: str) -> None:
        self.word = query_word
        self.allowance = typo_allowance(query_word)
        self._typo_cache: dict[str, bool] = {}

    def _is_typo_of(self, candidate: str) -> bool:
        known = self._typo_cache.get(candidate)
        if known is None:
            known = (
                self.allowance > 0
                and len(candidate) >= 3
                and typo_distance(self.word, candidate, self.allowance) <= self.allowance
            )
            self._typo_cache[candidate] = known
        return known

    def quality(self, text: str, words: frozenset[str]) -> float:
        if self.word in words:
            return EXACT
        if len(self.word) >= 2 and any(candidate.startswith(self.word) for candidate in words):
            return PREFIX
        if any(self._is_typo_of(candidate) for candidate in words):
            return TYPO
        if len(self.word) >= 3 and self.word in text:
            return INSIDE
        return 0.0


def _document(product: Searchable) -> _Document:
    return _document_of(
        product.name,
        " ".join(getattr(product, "tag_list", None) or [product.tags]),
        getattr(getattr(product, "squad", None), "name", ""),
        getattr(getattr(product, "category", None), "name", ""),
        product.summary,
    )


@lru_cache(maxsize=8192)
def _document_of(name: str, tags: str, squad: str, category: str, summary: str) -> _Document:
    """Normalizing a product's text is most of a search's cost, and the text
    rarely changes between searches: remembered by the text itself, so an
    edited product is simply a new entry."""
    parts = {"name": name, "tags": tags, "squad": squad, "category": category, "summary": summary}
    fields = {}
    for field, text in parts.items():
        normalized = normalize(text)
        fields[field] = (normalized, frozenset(_WORD.findall(normalized)))
    return _Document(fields)


def search_products(products: Iterable[P], query: str) -> list[P]:
    """The products matching every word of ``query``, best first (ties by name)."""
    return [hit.product for hit in rank_products(products, query)]


def rank_products(products: Iterable[P], query: str) -> list[Hit[P]]:
    query_words = _distinct(words_of(query))
    if not query_words:
        return [Hit(product, 0.0) for product in products]
    matchers = [_Matcher(word) for word in query_words]
    phrase = normalize(query).strip()
    hits: list[Hit[P]] = []
    for product in products:
        document = _document(product)
        score = 0.0
        for matcher in matchers:
            best = max(
                FIELD_WEIGHTS[field] * matcher.quality(text, words)
                for field, (text, words) in document.fields.items()
            )
            if best == 0.0:
                break
            score += best
        else:
            if len(phrase) >= 3 and phrase in document.fields["name"][0]:
                score += PHRASE_BONUS
            hits.append(Hit(product, score))
    hits.sort(key=lambda hit: (-hit.score, normalize(hit.product.name)))
    return hits


def _distinct(words: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(words))
