"""Symmetrising two directional word alignments with grow-diag-final-and (Koehn, Och & Marcu
2003, "Statistical Phrase-Based Translation", Sec. 4.3; the heuristic as Moses and fast_align's
atools implement it).

An aligner that links each target word to one source word (IBM models, attention read one
target word at a time) cannot link one target word to two source words. Running it in both
directions and combining the two link sets fixes that:

    start from the intersection A = A_st ∩ A_ts (high precision);
    GROW-DIAG: repeat until nothing changes: for each link (i, j) in A (source order, then
        target order), for each of its 8 neighbours (i', j') (horizontal, vertical, diagonal):
        add (i', j') if it is in the union A_st ∪ A_ts and source word i' or target word j'
        is not yet aligned in A;
    FINAL-AND, for A_st and then A_ts: add each of its links (i, j) whose source word i and
        target word j are both still unaligned in A.

Links are Pharaoh (i, j): source word i, target word j, 0-based, in the orientation of the
gold alignments; the caller flips the reverse model's links ((j, i) -> (i, j)) first.
Left out: the other heuristics (grow, grow-diag, grow-diag-final without -and).
"""

from __future__ import annotations

Link = tuple[int, int]
NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def grow_diag_final_and(forward: set[Link], backward: set[Link]) -> set[Link]:
    """Symmetrise `forward` (source->target model) and `backward` (target->source model,
    already flipped to (source, target)) links of one sentence pair."""
    union = forward | backward
    links = forward & backward
    src_aligned = {i for i, _ in links}
    trg_aligned = {j for _, j in links}

    def add(link: Link) -> None:
        links.add(link)
        src_aligned.add(link[0])
        trg_aligned.add(link[1])

    grown = True
    while grown:
        grown = False
        for i, j in sorted(links):
            for di, dj in NEIGHBOURS:
                new = (i + di, j + dj)
                if (
                    new in union
                    and new not in links
                    and (new[0] not in src_aligned or new[1] not in trg_aligned)
                ):
                    add(new)
                    grown = True
    for direction in (forward, backward):
        for i, j in sorted(direction):
            if i not in src_aligned and j not in trg_aligned:
                add((i, j))
    return links


def flip(links: set[Link]) -> set[Link]:
    """(i, j) -> (j, i): the links of a target->source model in source->target orientation."""
    return {(j, i) for i, j in links}
