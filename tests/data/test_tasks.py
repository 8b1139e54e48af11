"""Synthetic tasks: determinism, lengths, targets, gold alignments checked against the lexicon."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from attnlab.data import tasks
from attnlab.data.tasks import (
    DROPPED,
    LEXICON,
    PARTICLE,
    SYMBOLS,
    TASKS,
    Example,
    Link,
    format_links,
)

PHARAOH = re.compile(r"^(\d+[-?]\d+( \d+[-?]\d+)*)?$")


def all_examples(splits: dict[str, list[Example]]) -> list[Example]:
    return splits["train"] + splits["dev"] + splits["test"]


def check_links_valid(example: Example) -> None:
    """Indices in range, no pair twice, and the Pharaoh rendering parses."""
    assert PHARAOH.match(format_links(example.links))
    pairs = [(link.i, link.j) for link in example.links]
    assert len(pairs) == len(set(pairs))
    for link in example.links:
        assert 0 <= link.i < len(example.src)
        assert 0 <= link.j < len(example.trg)


def test_format_links_is_pharaoh_sorted() -> None:
    links = [Link(2, 0, True), Link(0, 1, False), Link(0, 0, True)]
    assert format_links(links) == "0-0 0?1 2-0"
    assert format_links([]) == ""


@pytest.mark.parametrize("name", sorted(TASKS))
def test_same_seed_same_data_other_seed_other_data(name: str) -> None:
    first = TASKS[name](20, 5, 5, 3, 12, 7)
    assert first == TASKS[name](20, 5, 5, 3, 12, 7)
    assert first != TASKS[name](20, 5, 5, 3, 12, 8)
    assert [len(first[s]) for s in ("train", "dev", "test")] == [20, 5, 5]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_lengths_cover_the_range(name: str) -> None:
    splits = TASKS[name](150, 10, 10, 1, 6, 3)
    lengths = Counter(len(ex.src) for ex in all_examples(splits))
    assert set(lengths) == {1, 2, 3, 4, 5, 6}
    for ex in all_examples(splits):
        check_links_valid(ex)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_splits_do_not_share_sources(name: str) -> None:
    # about 10,000 possible length-2 sources: independent draws would share dozens
    splits = TASKS[name](1500, 300, 300, 2, 2, 1)
    train = {tuple(ex.src) for ex in splits["train"]}
    dev = {tuple(ex.src) for ex in splits["dev"]}
    test = {tuple(ex.src) for ex in splits["test"]}
    assert not train & dev and not train & test and not dev & test


def test_tiny_space_still_fills_every_split() -> None:
    # only 100 distinct length-1 sources: repeats must be accepted rather than loop forever
    splits = tasks.copy_task(150, 150, 150, 1, 1, 0)
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [150, 150, 150]


def test_copy_and_reverse_targets_and_links() -> None:
    for ex in all_examples(tasks.copy_task(30, 5, 5, 1, 15, 2)):
        assert ex.trg == ex.src
        assert set(ex.src) <= set(SYMBOLS)
        assert ex.links == [Link(i, i, True) for i in range(len(ex.src))]
    for ex in all_examples(tasks.reverse_task(30, 5, 5, 1, 15, 2)):
        n = len(ex.src)
        assert ex.trg == list(reversed(ex.src))
        assert sorted(ex.links) == [Link(i, n - 1 - i, True) for i in range(n)]


def test_sort_links_are_the_stable_permutation_plus_ties() -> None:
    examples = all_examples(tasks.sort_task(60, 5, 5, 20, 40, 4))
    assert any(len(set(ex.src)) < len(ex.src) for ex in examples)  # ties do occur
    for ex in examples:
        assert ex.trg == sorted(ex.src)
        sure = sorted((link.j, link.i) for link in ex.links if link.sure)
        perm = [i for _, i in sure]
        assert [j for j, _ in sure] == list(range(len(ex.trg)))  # one sure link per target word
        assert sorted(perm) == list(range(len(ex.src)))  # ... and per source word
        for j, i in enumerate(perm):
            assert ex.src[i] == ex.trg[j]
            ties = [k for k, token in enumerate(ex.src) if token == ex.trg[j]]
            assert i == ties[sum(1 for t in ex.trg[:j] if t == ex.trg[j])]  # stable order
            possible = {link.i for link in ex.links if link.j == j and not link.sure}
            assert possible == set(ties) - {i}


def test_translation_lexicon_is_unambiguous() -> None:
    targets = [word for phrase in LEXICON.values() for word in phrase]
    assert len(targets) == len(set(targets))  # each target word comes from one source phrase
    assert PARTICLE not in targets
    assert not DROPPED & {word for phrase in LEXICON for word in phrase}
    assert 250 <= len(LEXICON) <= 400
    assert Counter(len(p) for p in LEXICON)[2] > 0  # two-to-one phrases
    assert Counter(len(t) for t in LEXICON.values())[2] > 0  # one-to-two words


def phrase_pairs(ex: Example) -> list[tuple[list[int], list[int]]]:
    """Connected components of the sure links, as (source indices, target indices)."""
    parent = {("s", i): ("s", i) for i in range(len(ex.src))}
    parent.update({("t", j): ("t", j) for j in range(len(ex.trg))})

    def root(node: tuple[str, int]) -> tuple[str, int]:
        while parent[node] != node:
            node = parent[node]
        return node

    for link in ex.links:
        if link.sure:
            parent[root(("s", link.i))] = root(("t", link.j))
    groups: dict[tuple[str, int], tuple[list[int], list[int]]] = {}
    for side, k in sorted(parent):
        src_ids, trg_ids = groups.setdefault(root((side, k)), ([], []))
        (src_ids if side == "s" else trg_ids).append(k)
    return [group for group in groups.values() if group[0] and group[1]]


def test_translation_links_follow_the_lexicon() -> None:
    examples = all_examples(tasks.translation_task(80, 10, 10, 1, 30, 5))
    shapes = Counter()
    for ex in examples:
        check_links_valid(ex)
        covered = set()
        for src_ids, trg_ids in phrase_pairs(ex):
            assert src_ids == list(range(src_ids[0], src_ids[-1] + 1))  # contiguous phrases
            assert trg_ids == list(range(trg_ids[0], trg_ids[-1] + 1))
            source = tuple(ex.src[i] for i in src_ids)
            assert LEXICON[source] == tuple(ex.trg[j] for j in trg_ids)
            shapes[len(src_ids), len(trg_ids)] += 1
            covered.update(trg_ids)
        aligned_src = {link.i for link in ex.links}
        for i, word in enumerate(ex.src):
            assert (word in DROPPED) == (i not in aligned_src)  # only "the" is left unaligned
        for j, word in enumerate(ex.trg):
            possible = [link.i for link in ex.links if link.j == j and not link.sure]
            if word == PARTICLE:
                # possibly aligned to its clause's verb, whose translation ends right before it
                assert j not in covered and len(possible) == 1
                verb = LEXICON[(ex.src[possible[0]],)]
                assert tuple(ex.trg[j - len(verb) : j]) == verb
            else:
                assert j in covered and not possible
    assert {(1, 1), (1, 2), (2, 1)} <= set(shapes)


def test_translation_reorders_adjectives_and_verbs() -> None:
    swaps = moves = 0
    for ex in tasks.translation_task(40, 1, 1, 8, 20, 9)["train"]:
        first_trg = {}
        for link in sorted(ex.links):
            first_trg.setdefault(link.i, link.j)
        for i in range(len(ex.src) - 1):
            if ex.src[i] in tasks._ADJECTIVES and ex.src[i + 1] in tasks._NOUNS:
                assert first_trg[i + 1] < first_trg[i]  # ADJ NOUN -> NOUN ADJ
                swaps += 1
        for i, word in enumerate(ex.src):
            if word not in tasks._VERBS:
                continue
            clause_rest = []  # the source words after the verb, up to the next conjunction
            for k in range(i + 1, len(ex.src)):
                if ex.src[k] in tasks._CONJUNCTIONS:
                    break
                clause_rest.append(k)
            assert all(first_trg[k] < first_trg[i] for k in clause_rest if k in first_trg)
            moves += bool(clause_rest)
    assert swaps > 10 and moves > 10


@pytest.mark.parametrize("length", [1, 2, 3, 7, 18, 19, 150])
def test_translation_hits_every_exact_length(length: int) -> None:
    splits = tasks.translation_task(4, 1, 1, length, length, 11)
    assert {len(ex.src) for ex in all_examples(splits)} == {length}
    if length >= 3:
        assert all(PARTICLE in ex.trg for ex in all_examples(splits))
