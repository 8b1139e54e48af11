"""grow-diag-final-and on hand-worked sentence pairs."""

from __future__ import annotations

from attnlab.analysis.symmetrize import flip, grow_diag_final_and


def test_grows_into_the_union_next_to_the_intersection_then_final_and() -> None:
    # intersection {(0,0), (1,1)}; the union adds (2,1), (2,2), (4,0), (5,5).
    # grow-diag from (1,1): (2,1) is a neighbour in the union, source 2 unaligned -> added;
    # then (2,2), diagonal of (1,1): target 2 unaligned -> added.
    # (4,0) touches no link (two rows from (2,1)), and target 0 is aligned: never added.
    # (5,5) touches no link, but source 5 and target 5 are both unaligned: final-and adds it.
    forward = {(0, 0), (1, 1), (2, 1), (5, 5)}
    backward = {(0, 0), (1, 1), (2, 2), (4, 0)}
    assert grow_diag_final_and(forward, backward) == {(0, 0), (1, 1), (2, 1), (2, 2), (5, 5)}
    # with (3,0) instead, the diagonal neighbour of (2,1), it grows in: source 3 is unaligned
    backward = {(0, 0), (1, 1), (2, 2), (3, 0)}
    assert (3, 0) in grow_diag_final_and(forward, backward)


def test_a_neighbour_between_two_aligned_words_is_not_added() -> None:
    # (0,1) neighbours both links, but source 0 and target 1 are already aligned
    forward = {(0, 0), (1, 1), (0, 1)}
    backward = {(0, 0), (1, 1)}
    assert grow_diag_final_and(forward, backward) == {(0, 0), (1, 1)}


def test_grow_repeats_until_nothing_changes() -> None:
    # a chain (1,1) -> (2,2) -> (3,3) only reachable step by step from the intersection (0,0)
    forward = {(0, 0), (1, 1), (3, 3)}
    backward = {(0, 0), (2, 2)}
    assert grow_diag_final_and(forward, backward) == {(0, 0), (1, 1), (2, 2), (3, 3)}


def test_agreeing_directions_and_flip() -> None:
    links = {(0, 1), (1, 0), (2, 2)}
    assert grow_diag_final_and(links, links) == links
    assert grow_diag_final_and(set(), set()) == set()
    assert flip({(0, 1), (2, 3)}) == {(1, 0), (3, 2)}
