"""Duplicated tooling: runbooks of different squads that do the same thing.

Each runbook's current playbook is reduced to what it does (see
``runbooks.analysis``): its
tasks' modules with the shape of their arguments, the order of those tasks,
the variables, the hosts it targets, the templates and files it reads or
writes, roles and collections. Sharing a module name says little (every
playbook asserts and copies); the same calls on the same files does. Two
runbooks are compared facet by facet with a weighted Jaccard index, where each feature weighs by how rare
it is among all runbooks (inverse document frequency): sharing
``ansible.builtin.debug`` says little, sharing ``community.general.nmcli``
and the same inputs says a lot. Task structure is compared as sequences
(the share of steps in common, in the same order, as ``difflib`` measures
it), so one inserted step does not hide an otherwise identical procedure.
The facets' indices are then averaged with ``FACET_WEIGHTS`` (over the
facets at least one of the two uses).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from itertools import combinations
from typing import Any

from catalogue.models import Product
from runbooks.analysis import PlaybookFeatures, analyse_playbook
from runbooks.models import Credential, Runbook, RunbookVersion

FACET_WEIGHTS: dict[str, float] = {
    "actions": 0.25,
    "structure": 0.15,
    "variables": 0.25,
    "files": 0.20,
    "hosts": 0.05,
    "roles": 0.05,
    "collections": 0.05,
}
#: Pairs scoring at least this are listed as near-duplicates.
NEAR_DUPLICATE = 0.6


#: Facets compared as multisets (the others are sequences).
SET_FACETS = ("actions", "variables", "files", "hosts", "roles", "collections")


def facets(features: PlaybookFeatures) -> dict[str, Any]:
    """What two runbooks are compared on. Variables are the names the
    playbook reads or sets, except the results it registers: what those are
    called is a matter of taste, not of what the runbook does."""
    return {
        "actions": features.actions,
        "structure": list(features.action_sequence),
        "files": features.files,
        "hosts": features.hosts,
        # Kept for the pages ("modules in common"), not scored.
        "modules": features.modules,
        "variables": Counter((features.used_variables | features.defined_variables) - features.registered),
        "roles": Counter(features.roles),
        "collections": Counter(features.collections),
    }


def _weighted_jaccard(first: Counter[str], second: Counter[str], weights: dict[str, float]) -> float:
    keys = first.keys() | second.keys()
    top = sum(weights.get(key, 1.0) * min(first[key], second[key]) for key in keys)
    bottom = sum(weights.get(key, 1.0) * max(first[key], second[key]) for key in keys)
    return top / bottom if bottom else 0.0


def idf_weights(corpus: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per facet, each feature's smoothed inverse document frequency."""
    total = len(corpus)
    weights: dict[str, dict[str, float]] = {}
    for facet in SET_FACETS:
        frequency: Counter[str] = Counter()
        for document in corpus:
            frequency.update(document[facet].keys())
        weights[facet] = {key: math.log((1 + total) / (1 + count)) + 1 for key, count in frequency.items()}
    return weights


@dataclass
class Similarity:
    score: float
    by_facet: dict[str, float]
    shared_modules: list[str]
    shared_variables: list[str]
    shared_roles: list[str]


def similarity(
    first: dict[str, Any], second: dict[str, Any], weights: dict[str, dict[str, float]]
) -> Similarity:
    """How alike two runbooks are, from 0 (nothing in common) to 1."""
    by_facet = {}
    for facet in FACET_WEIGHTS:
        if not (first[facet] or second[facet]):
            continue
        if facet in SET_FACETS:
            by_facet[facet] = _weighted_jaccard(first[facet], second[facet], weights.get(facet, {}))
        else:
            by_facet[facet] = SequenceMatcher(None, first[facet], second[facet], autojunk=False).ratio()
    used = sum(FACET_WEIGHTS[facet] for facet in by_facet)
    score = sum(FACET_WEIGHTS[facet] * value for facet, value in by_facet.items()) / used if used else 0.0
    return Similarity(
        score=score,
        by_facet=by_facet,
        shared_modules=sorted(first["modules"].keys() & second["modules"].keys()),
        shared_variables=sorted(first["variables"].keys() & second["variables"].keys()),
        shared_roles=sorted(first["roles"].keys() & second["roles"].keys()),
    )


@dataclass
class RunbookSide:
    """One runbook of a pair with the tooling its squad keeps for it."""

    runbook: Runbook
    credentials: list[Credential]
    products: list[Product]

    @property
    def tools(self) -> list[str]:
        kept = [f"{credential.name} ({credential.get_kind_display()})" for credential in self.credentials]
        if self.runbook.queue:
            kept.append(f"own worker queue '{self.runbook.queue}'")
        return kept


@dataclass
class DuplicatePair:
    first: RunbookSide
    second: RunbookSide
    similarity: Similarity

    @property
    def score(self) -> float:
        return self.similarity.score

    @property
    def squads(self) -> list[Any]:
        return [self.first.runbook.squad, self.second.runbook.squad]

    def involves(self, squad_id: int) -> bool:
        return squad_id in (self.first.runbook.squad_id, self.second.runbook.squad_id)


@dataclass
class SharedCredential:
    """The same account kept as a credential by several squads."""

    kind: str
    username: str
    credentials: list[Credential] = field(default_factory=list)

    @property
    def squads(self) -> list[Any]:
        return sorted({credential.squad for credential in self.credentials}, key=lambda squad: squad.name)


def _runbooks(*, with_tooling: bool = True) -> list[Runbook]:
    runbooks = (
        Runbook.objects.select_related("squad", "current_version")
        .filter(current_version__isnull=False)
        .order_by("squad__name", "name")
    )
    if with_tooling:
        runbooks = runbooks.prefetch_related("credentials", "products")
    return list(runbooks)


#: Scores of every cross-squad pair, by the exact set of runbook versions they
#: were computed from (with their checksums, as ids can be reused): versions
#: are immutable, so a score never goes stale, and a new version (or
#: runbook, or move to another squad) is a new key.
_SCORES: dict[tuple, dict[tuple[int, int], Similarity]] = {}
_SCORES_KEPT = 4


def _current(runbook: Runbook) -> RunbookVersion:
    """The runbook's current version (``_runbooks`` reads only runbooks that have one)."""
    version = runbook.current_version
    assert version is not None
    return version


def _pair_scores(runbooks: list[Runbook]) -> dict[tuple[int, int], Similarity]:
    key = tuple(
        (runbook.pk, runbook.squad_id, runbook.current_version_id, _current(runbook).checksum)
        for runbook in runbooks
    )
    if key in _SCORES:
        return _SCORES[key]
    features = {runbook.pk: analyse_playbook(_current(runbook).content) for runbook in runbooks}
    usable = [
        runbook for runbook in runbooks if features[runbook.pk].valid and features[runbook.pk].task_count
    ]
    documents = {runbook.pk: facets(features[runbook.pk]) for runbook in usable}
    weights = idf_weights(list(documents.values()))
    scores = {
        (first.pk, second.pk): similarity(documents[first.pk], documents[second.pk], weights)
        for first, second in combinations(usable, 2)
        if first.squad_id != second.squad_id
    }
    if len(_SCORES) >= _SCORES_KEPT:
        _SCORES.pop(next(iter(_SCORES)))
    _SCORES[key] = scores
    return scores


def duplicate_runbooks(
    *, threshold: float = NEAR_DUPLICATE, squad_id: int | None = None
) -> list[DuplicatePair]:
    """Pairs of runbooks owned by different squads scoring at least
    ``threshold``, most similar first; with ``squad_id`` only the pairs
    that involve that squad. Four queries; playbooks are parsed and pairs
    scored once per set of runbook versions and process."""
    runbooks = _runbooks()
    by_id = {runbook.pk: runbook for runbook in runbooks}
    pairs = []
    for (first_id, second_id), found in _pair_scores(runbooks).items():
        first, second = by_id[first_id], by_id[second_id]
        if squad_id is not None and squad_id not in (first.squad_id, second.squad_id):
            continue
        if found.score >= threshold:
            pairs.append(
                DuplicatePair(
                    first=RunbookSide(first, list(first.credentials.all()), list(first.products.all())),
                    second=RunbookSide(second, list(second.credentials.all()), list(second.products.all())),
                    similarity=found,
                )
            )
    pairs.sort(key=lambda pair: (-pair.score, pair.first.runbook.name, pair.second.runbook.name))
    return pairs


def runbook_similarities() -> dict[frozenset[int], float]:
    """The similarity (0 to 1) of every pair of runbooks of different
    squads, by their two ids (one query; scored as above, once per set of
    runbook versions and process)."""
    return {
        frozenset(pair): found.score for pair, found in _pair_scores(_runbooks(with_tooling=False)).items()
    }


def shared_credentials() -> list[SharedCredential]:
    """Accounts (same kind and login) that more than one squad keeps its own
    credential for: a tool replicated across squads (one query)."""
    groups: dict[tuple[str, str], SharedCredential] = {}
    for credential in (
        Credential.objects.exclude(username="")
        .select_related("squad")
        .order_by("kind", "username", "squad__name")
    ):
        key = (credential.kind, credential.username.strip().lower())
        groups.setdefault(key, SharedCredential(kind=credential.get_kind_display(), username=key[1]))
        groups[key].credentials.append(credential)
    return [group for group in groups.values() if len(group.squads) > 1]
