"""Synthetic tasks with known gold alignments, deterministic from a seed.

Four tasks, each a function `<task>_task(n_train, n_dev, n_test, min_len, max_len, seed)` that
returns `{"train": [...], "dev": [...], "test": [...]}`, a list of `Example(src, trg, links)` per
split. Source lengths are uniform in [min_len, max_len].

- `copy`, `reverse`, `sort` (the copy task of Graves et al., 2014, "Neural Turing Machines";
  source reversal of Sutskever et al., 2014; sorting as in Vinyals et al., 2015, "Order Matters"):
  sequences over the 100 word tokens `w00` ... `w99` (zero-padded, so string order is numeric
  order). The target is the source, the source reversed, or the source sorted. Gold links: copy
  `i-i`, reverse `i-(n-1-i)`, sort the stable sorting permutation (sure), plus a possible link from
  every other source position that holds the same token.
- `translation`: a small English-like grammar translated into a made-up language by a fixed
  bilingual lexicon, with the phenomena that make word alignment hard (Brown et al., 1993; sure and
  possible links as in Och & Ney, 2003): adjective-noun swap, the verb moved to the end of its
  clause, one-to-two words, two-to-one phrases (compound nouns, two-word prepositions), the source
  determiner "the" dropped, and a target-only clause-final particle possibly linked to the clause's
  verb. The lexicon comes from a fixed seed, so the language is the same for every `seed`.

Splits come from separate random streams, and an example whose source already occurs in an earlier
split is redrawn (a bounded number of times, so tiny spaces such as length-1 copies still work).
Left out: ambiguity (one translation per source phrase), morphology and agreement, reorderings
beyond one clause.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

SPLITS = ("train", "dev", "test")
SYMBOLS = tuple(f"w{k:02d}" for k in range(100))


class Link(NamedTuple):
    """A gold alignment link between source word `i` and target word `j` (0-based)."""

    i: int
    j: int
    sure: bool


class Example(NamedTuple):
    """One sentence pair with its gold word alignment."""

    src: list[str]
    trg: list[str]
    links: list[Link]


Splits = dict[str, list[Example]]
MakeExample = Callable[[random.Random, int], Example]


def format_links(links: list[Link]) -> str:
    """Pharaoh format, sorted by source then target index: `i-j` sure, `i?j` possible."""
    return " ".join(f"{i}{'-' if sure else '?'}{j}" for i, j, sure in sorted(links))


# --- splits -------------------------------------------------------------------------------------

_MAX_REDRAWS = 50  # tries to avoid a source seen in an earlier split before accepting a repeat


def _fresh_example(
    rng: random.Random, make: MakeExample, length: int, seen: set[tuple[str, ...]]
) -> Example:
    """Draw an example of `length` source words whose source is not in `seen`, if one turns up."""
    example = make(rng, length)
    for _ in range(_MAX_REDRAWS):
        if tuple(example.src) not in seen:
            break
        example = make(rng, length)
    return example


def _make_splits(
    name: str, make: MakeExample, sizes: tuple[int, int, int], min_len: int, max_len: int, seed: int
) -> Splits:
    """Draw each split from its own stream, `Random("attnlab/<task>/<seed>/<split>")`."""
    splits: Splits = {}
    seen: set[tuple[str, ...]] = set()  # sources of the earlier splits
    for split, n in zip(SPLITS, sizes, strict=True):
        rng = random.Random(f"attnlab/{name}/{seed}/{split}")
        examples = [
            _fresh_example(rng, make, rng.randint(min_len, max_len), seen) for _ in range(n)
        ]
        seen.update(tuple(example.src) for example in examples)
        splits[split] = examples
    return splits


# --- copy, reverse, sort ------------------------------------------------------------------------


def _symbols(rng: random.Random, length: int) -> list[str]:
    return rng.choices(SYMBOLS, k=length)


def _copy_example(rng: random.Random, length: int) -> Example:
    src = _symbols(rng, length)
    return Example(src, list(src), [Link(i, i, True) for i in range(length)])


def _reverse_example(rng: random.Random, length: int) -> Example:
    src = _symbols(rng, length)
    return Example(src, src[::-1], [Link(i, length - 1 - i, True) for i in range(length)])


def _sort_example(rng: random.Random, length: int) -> Example:
    src = _symbols(rng, length)
    order = sorted(range(length), key=src.__getitem__)  # stable: equal tokens keep source order
    positions = defaultdict(list)
    for i, token in enumerate(src):
        positions[token].append(i)
    links = []
    for j, i in enumerate(order):
        links.append(Link(i, j, True))
        links.extend(Link(k, j, False) for k in positions[src[i]] if k != i)
    return Example(src, [src[i] for i in order], links)


def copy_task(
    n_train: int, n_dev: int, n_test: int, min_len: int, max_len: int, seed: int
) -> Splits:
    """Target = source; links `i-i`."""
    return _make_splits("copy", _copy_example, (n_train, n_dev, n_test), min_len, max_len, seed)


def reverse_task(
    n_train: int, n_dev: int, n_test: int, min_len: int, max_len: int, seed: int
) -> Splits:
    """Target = source reversed; links `i-(n-1-i)`."""
    sizes = (n_train, n_dev, n_test)
    return _make_splits("reverse", _reverse_example, sizes, min_len, max_len, seed)


def sort_task(
    n_train: int, n_dev: int, n_test: int, min_len: int, max_len: int, seed: int
) -> Splits:
    """Target = source sorted; sure links the stable permutation, possible links equal tokens."""
    return _make_splits("sort", _sort_example, (n_train, n_dev, n_test), min_len, max_len, seed)


# --- translation: the two languages -------------------------------------------------------------


def _words(text: str) -> list[str]:
    """Split a word list written as running text (hundreds of quoted words would not read)."""
    return text.split()


_NOUNS = _words("""
dog cat bird horse cow sheep goat fish mouse rabbit fox wolf bear lion tiger farmer
teacher doctor child woman man girl boy king queen soldier baker singer painter writer student
friend neighbor brother sister mother father uncle aunt river mountain forest garden house city
village road bridge tower church school market castle island lake field window door table chair
bed book letter song story picture map key box bottle cup plate knife spoon apple bread cheese soup
cake egg milk water stone tree flower leaf rope boat ship car train wagon wheel hat coat shoe shirt
glove ring coin basket lamp candle clock bell drum flute guitar hammer nail ladder blanket pillow
mirror kettle oven pencil paper button needle bucket shovel fence gate roof wall floor
ladle""")
_COMPOUNDS = _words("""
ice+cream post+office fire+engine police+station washing+machine bus+stop
swimming+pool tennis+racket birthday+party pine+cone sea+shell railway+platform""")
_ADJECTIVES = _words("""
big small old young red blue green yellow black white happy sad tall short long
quiet loud bright dark heavy light warm cold hot soft hard fast slow brave clever kind angry tired
hungry rich poor strange famous lazy busy gentle proud wild wet dry clean dirty empty full sweet
bitter round sharp narrow wide thin thick honest lucky silent ancient golden wooden""")
_VERBS = _words("""
saw found took carried painted cleaned opened closed followed watched helped called
visited liked loved hated pushed pulled bought sold built broke fixed washed cooked ate drank read
wrote drew chased caught threw kicked touched held dropped lifted moved hid showed sent brought
kept left met knew heard noticed remembered forgot guarded counted measured weighed packed wrapped
hugged greeted thanked admired feared""")
_ADVERBS = _words("""
quickly slowly quietly loudly happily sadly carefully gently yesterday today again
often rarely early late suddenly finally proudly bravely calmly eagerly softly silently politely
badly""")
_PREPOSITIONS = _words("in on under near behind beside with without from into over through")
_TWO_WORD_PREPOSITIONS = _words("next+to out+of close+to ahead+of")
_DETERMINERS = _words("the a this that every some no one my your our his her")
_CONJUNCTIONS = _words("and but while because so then although until before after")

DROPPED = frozenset({"the"})  # source function words with no target word and no link
PARTICLE = "ka"  # target-only clause-final particle, possibly linked to the clause's verb


def _phrases(words: list[str]) -> list[tuple[str, ...]]:
    return [tuple(word.split("+")) for word in words]


def _build_lexicon() -> dict[tuple[str, ...], tuple[str, ...]]:
    """Source phrase -> target words, from a fixed seed (the same language for every task seed).

    Target words are 2-3 consonant-vowel syllables with an optional final n/s/r; content words
    become two target words with probability 0.15 (one-to-two); compounds and two-word prepositions
    are source bigrams that become one target word (two-to-one).
    """
    rng = random.Random("attnlab/translation/lexicon/v1")
    used = {PARTICLE}

    def new_word() -> str:
        while True:
            syllables = [rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)]
            word = "".join(syllables[: rng.randint(2, 3)]) + rng.choice(["", "", "n", "s", "r"])
            if word not in used:
                used.add(word)
                return word

    content = _NOUNS + _ADJECTIVES + _VERBS + _ADVERBS
    function = [w for w in _DETERMINERS + _PREPOSITIONS + _CONJUNCTIONS if w not in DROPPED]
    lexicon: dict[tuple[str, ...], tuple[str, ...]] = {}
    for word in content:
        n_target = 2 if rng.random() < 0.15 else 1
        lexicon[(word,)] = tuple(new_word() for _ in range(n_target))
    for word in function:
        lexicon[(word,)] = (new_word(),)
    for phrase in _phrases(_COMPOUNDS + _TWO_WORD_PREPOSITIONS):
        lexicon[phrase] = (new_word(),)
    return lexicon


LEXICON = _build_lexicon()


# --- translation: sentences ---------------------------------------------------------------------


@dataclass(eq=False)  # compared and hashed by identity: a unit is one occurrence in a sentence
class _Unit:
    """One translation unit: source words, their target words, and for a target-only word the
    unit it is possibly aligned to (`anchor`)."""

    src: tuple[str, ...]
    trg: tuple[str, ...]
    anchor: _Unit | None = None


def _word(phrase: tuple[str, ...]) -> _Unit:
    return _Unit(phrase, () if phrase[0] in DROPPED else LEXICON[phrase])


def _noun_phrase(
    rng: random.Random, n_adj: int, compound: bool, determiner: bool
) -> tuple[list[_Unit], list[_Unit]]:
    """[DET] ADJ^n NOUN -> [DET] NOUN ADJ^n (the adjective-noun swap; "the" has no target word)."""
    noun = _word(rng.choice(_phrases(_COMPOUNDS)) if compound else (rng.choice(_NOUNS),))
    adjectives = [_word((rng.choice(_ADJECTIVES),)) for _ in range(n_adj)]
    det = []
    if determiner:
        det = [_word(("the",) if rng.random() < 0.5 else (rng.choice(_DETERMINERS[1:]),))]
    return [*det, *adjectives, noun], [*det, noun, *adjectives]


_MAX_CLAUSE = 18  # 3 (DET NOUN VERB) + object 2 + PP 3 + ADV 1 + 9 stretch words


def _clause(rng: random.Random, length: int) -> tuple[list[_Unit], list[_Unit]]:
    """A clause of exactly `length` source words (3 to 18), as source and target unit lists.

    DET ADJ* NOUN VERB [DET ADJ* NOUN] [PREP DET ADJ* NOUN] [ADV]
      -> DET NOUN ADJ* [DET NOUN ADJ*] [PREP DET NOUN ADJ*] [ADV] VERB PARTICLE
    First the optional parts are chosen among those whose lengths can reach `length`, then the
    remaining words are spread over stretch slots: adjectives, compound nouns, two-word PREP.
    """
    shapes = [
        (obj, pp, adv)
        for obj in (False, True)
        for pp in (False, True)
        for adv in (False, True)
        if 3 + 2 * obj + 3 * pp + adv <= length <= 6 + 5 * obj + 6 * pp + adv
    ]
    obj, pp, adv = rng.choice(shapes)
    # stretch slots and how many words each may add: subject adjectives, subject compound, ...
    caps = {"s_adj": 2, "s_cmp": 1, "o_adj": 2 * obj, "o_cmp": int(obj)}
    caps |= {"p_adj": int(pp), "p_cmp": int(pp), "p_two": int(pp)}
    extra = dict.fromkeys(caps, 0)
    for _ in range(length - (3 + 2 * obj + 3 * pp + adv)):
        slot = rng.choice([s for s in caps if extra[s] < caps[s]])
        extra[slot] += 1

    src, trg = _noun_phrase(rng, extra["s_adj"], extra["s_cmp"] == 1, determiner=True)
    verb = _word((rng.choice(_VERBS),))
    src.append(verb)
    if obj:
        o_src, o_trg = _noun_phrase(rng, extra["o_adj"], extra["o_cmp"] == 1, determiner=True)
        src += o_src
        trg += o_trg
    if pp:
        prep_words = _phrases(_TWO_WORD_PREPOSITIONS) if extra["p_two"] else _phrases(_PREPOSITIONS)
        prep = _word(rng.choice(prep_words))
        p_src, p_trg = _noun_phrase(rng, extra["p_adj"], extra["p_cmp"] == 1, determiner=True)
        src += [prep, *p_src]
        trg += [prep, *p_trg]
    if adv:
        adverb = _word((rng.choice(_ADVERBS),))
        src.append(adverb)
        trg.append(adverb)
    trg += [verb, _Unit((), (PARTICLE,), anchor=verb)]
    return src, trg


def _clause_lengths(rng: random.Random, length: int) -> list[int]:
    """Split `length` >= 3 source words into clause lengths (3 to 18) plus one conjunction between
    each two clauses; a long remainder is always split, a medium one half of the time."""
    lengths = []
    remaining = length
    while remaining >= 7 and (remaining > _MAX_CLAUSE or rng.random() < 0.5):
        clause = rng.randint(3, min(12, remaining - 4))  # leaves a conjunction and >= 3 words
        lengths.append(clause)
        remaining -= clause + 1
    return [*lengths, remaining]


def _translation_example(rng: random.Random, length: int) -> Example:
    """A sentence of exactly `length` source words: clauses joined by conjunctions, or below three
    words a noun-phrase fragment (NOUN, or DET NOUN / ADJ NOUN / compound)."""
    if length == 1:
        src, trg = _noun_phrase(rng, 0, compound=False, determiner=False)
    elif length == 2:
        variant = rng.randrange(3)
        src, trg = _noun_phrase(rng, int(variant == 1), variant == 2, determiner=variant == 0)
    else:
        src, trg = [], []
        for k, clause_length in enumerate(_clause_lengths(rng, length)):
            if k > 0:
                conjunction = _word((rng.choice(_CONJUNCTIONS),))
                src.append(conjunction)
                trg.append(conjunction)
            c_src, c_trg = _clause(rng, clause_length)
            src += c_src
            trg += c_trg
    return _linearise(src, trg)


def _linearise(src_units: list[_Unit], trg_units: list[_Unit]) -> Example:
    """Lay the units out as words and derive the links: sure between every source and target
    word of a lexical unit, possible from a target-only word to every word of its anchor."""
    src_positions: dict[_Unit, range] = {}
    src_words: list[str] = []
    for unit in src_units:
        src_positions[unit] = range(len(src_words), len(src_words) + len(unit.src))
        src_words += unit.src
    trg_words: list[str] = []
    links = []
    for unit in trg_units:
        for word in unit.trg:
            j = len(trg_words)
            trg_words.append(word)
            aligned = src_positions[unit.anchor or unit]
            links += [Link(i, j, unit.anchor is None) for i in aligned]
    return Example(src_words, trg_words, links)


def translation_task(
    n_train: int, n_dev: int, n_test: int, min_len: int, max_len: int, seed: int
) -> Splits:
    """Synthetic translation with gold alignments (see the module docstring)."""
    sizes = (n_train, n_dev, n_test)
    return _make_splits("translation", _translation_example, sizes, min_len, max_len, seed)


TASKS: dict[str, Callable[[int, int, int, int, int, int], Splits]] = {
    "copy": copy_task,
    "reverse": reverse_task,
    "sort": sort_task,
    "translation": translation_task,
}
