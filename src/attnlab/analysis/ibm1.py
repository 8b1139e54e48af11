"""IBM Model 1 word alignment: the classical baseline that attention-as-alignment has to beat.

Paper: Brown, Della Pietra, Della Pietra & Mercer (1993), "The Mathematics of Statistical Machine
Translation: Parameter Estimation", sec. 4.1 (Model 1) and eqs. 11-17 (its EM). The model
generates each target word f_j from one source word e_i, or from the NULL word e_0, with every
alignment equally likely:

    p(f, a | e) = epsilon / (S + 1)^T * prod_j t(f_j | e_{a_j})

EM from uniform t. E-step: the posterior that f_j came from e_i is

    p(a_j = i | e, f) = t(f_j | e_i) / sum_{i'=0..S} t(f_j | e_{i'})

M-step: t(f | e) = c(f | e) / sum_f' c(f' | e), with c(f | e) the expected number of times e
generated f (the posteriors summed over the corpus). The Viterbi alignment links each f_j to
argmax_i t(f_j | e_i); a word that NULL generates gets no link. Only word pairs that co-occur in a
sentence pair are stored (t is 0 for any other pair), as flat NumPy arrays, so EM over the 7k
pairs of the New Testament corpus takes seconds.

With a `DiagonalPrior` the alignment is no longer uniform: fast_align's reparameterisation of
Model 2 (Dyer, Chahuneau & Smith 2013, eqs. 2-3), with 1-based positions i of S and j of T,

    p(a_j = 0) = p_0 (NULL),   p(a_j = i) = (1 - p_0) exp(-lambda |i/S - j/T|) / Z_j,
    Z_j = sum_{i'=1..S} exp(-lambda |i'/S - j/T|),

and every formula above takes p(a_j = i) t(f_j | e_i) in place of t(f_j | e_i) / (S + 1)
(E-step posteriors, likelihood, Viterbi). lambda and p_0 are fixed (fast_align's defaults, 4 and
0.08); fast_align also fits lambda by gradient steps between EM iterations, left out here.

Shapes: S source words, T target words, N co-occurrence tokens of the corpus (sum of (S+1) T).
Links are Pharaoh (i, j): source word i, target word j, 0-based
(the order of attnlab.word_alignment).
Left out: Models 2-5 and the HMM aligner (distortion, fertility), smoothing of rare words, and
any tokenisation (the caller splits). Symmetrisation: `attnlab.analysis.symmetrize`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Link = tuple[int, int]
NULL = "<null>"  # the source word e_0 that generates target words with no counterpart


@dataclass(frozen=True)
class DiagonalPrior:
    """fast_align's alignment distribution: `tension` is lambda, `p_null` is p_0."""

    tension: float = 4.0
    p_null: float = 0.08


def alignment_prior(n_src: int, n_trg: int, prior: DiagonalPrior | None) -> np.ndarray:
    """p(a_j = i) for one sentence pair, NULL as column 0: uniform 1 / (S + 1) for Model 1,
    else the diagonal prior of the module docstring.  -> (T, S + 1), rows summing to 1"""
    if prior is None:
        return np.full((n_trg, n_src + 1), 1.0 / (n_src + 1))
    i = np.arange(1, n_src + 1) / max(n_src, 1)  # (S,) i / S
    j = np.arange(1, n_trg + 1) / max(n_trg, 1)  # (T,) j / T
    weights = np.exp(-prior.tension * np.abs(i[None, :] - j[:, None]))  # (T, S)
    words = (1.0 - prior.p_null) * weights / weights.sum(axis=1, keepdims=True)  # (T, S)
    null = np.full((n_trg, 1), prior.p_null if n_src else 1.0)  # (T, 1)
    return np.concatenate([null, words], axis=1)  # (T, S + 1)


@dataclass(frozen=True)
class IBM1:
    """A trained translation table t(f | e) over the co-occurring word pairs.

    src_index / trg_index: word -> id (source id 0 is NULL); keys (P,) sorted int64 ids of the
    stored pairs, e_id * n_trg + f_id; t (P,) their probabilities; log_likelihood: log p(f | e)
    of the training corpus (up to the constant epsilon) before each EM iteration and after the
    last, so it has iterations + 1 entries and never decreases; prior: None (Model 1) or the
    diagonal prior it was trained with.
    """

    src_index: dict[str, int]
    trg_index: dict[str, int]
    keys: np.ndarray
    t: np.ndarray
    log_likelihood: list[float]
    prior: DiagonalPrior | None = field(default=None)


def _index(sentences: list[list[str]], first: list[str]) -> dict[str, int]:
    index = {word: k for k, word in enumerate(first)}
    for sentence in sentences:
        for word in sentence:
            index.setdefault(word, len(index))
    return index


def _cooccurrences(
    src_ids: list[np.ndarray], trg_ids: list[np.ndarray], n_trg: int, prior: DiagonalPrior | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (e_i, f_j) token pair of every sentence pair, e_0 = NULL included.

    -> keys (N,) e_id * n_trg + f_id, position (N,) the corpus-wide index of target word f_j,
       p_align (N,) p(a_j = i) of the pair
    """
    keys, positions, p_align, offset = [], [], [], 0
    for e, f in zip(src_ids, trg_ids, strict=True):
        p_align.append(alignment_prior(len(e), len(f), prior).ravel())  # (T * (S+1),)
        e = np.concatenate([[0], e])  # (S+1,), NULL first
        keys.append((e[None, :] * n_trg + f[:, None]).ravel())  # (T * (S+1),), row-major in j
        positions.append(np.repeat(np.arange(offset, offset + len(f)), len(e)))  # (T * (S+1),)
        offset += len(f)
    if not keys:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    return (
        np.concatenate(keys).astype(np.int64),
        np.concatenate(positions),
        np.concatenate(p_align),
    )


def train_ibm1(
    src: list[list[str]],
    trg: list[list[str]],
    iterations: int = 5,
    prior: DiagonalPrior | None = None,
) -> IBM1:
    """Fit t(f | e) by `iterations` rounds of EM (Brown et al. 1993, eqs. 11-17) from uniform t;
    with `prior`, under fast_align's diagonal alignment distribution (module docstring).

    src, trg: the words of each sentence pair (source e, target f); pairs with an empty side
    contribute nothing.
    """
    if len(src) != len(trg):
        raise ValueError(f"{len(src)} source sentences for {len(trg)} target ones")
    src_index, trg_index = _index(src, [NULL]), _index(trg, [])
    n_trg = max(1, len(trg_index))
    src_ids = [np.array([src_index[w] for w in s], dtype=np.int64) for s in src]
    trg_ids = [np.array([trg_index[w] for w in f], dtype=np.int64) for f in trg]
    token_keys, position, p_align = _cooccurrences(src_ids, trg_ids, n_trg, prior)  # (N,) each
    keys, pair = np.unique(token_keys, return_inverse=True)  # (P,), (N,) index into keys
    pair_src = keys // n_trg  # (P,) e of each stored pair
    n_positions = int(position.max()) + 1 if position.size else 0
    t = np.full(len(keys), 1.0 / n_trg)  # (P,) uniform start
    history = []
    for step in range(iterations + 1):
        p = p_align * t[pair]  # (N,) p(a_j = i) t(f_j | e_i)
        z = np.bincount(position, weights=p, minlength=n_positions)  # (positions,) p(f_j | e)
        history.append(float(np.sum(np.log(z))) if n_positions else 0.0)
        if step == iterations:
            break
        posterior = p / z[position]  # (N,) p(a_j = i | e, f)
        counts = np.bincount(pair, weights=posterior, minlength=len(keys))  # (P,) c(f | e)
        totals = np.bincount(pair_src, weights=counts, minlength=len(src_index))  # sum_f c(f|e)
        t = counts / totals[pair_src]  # (P,)
    return IBM1(src_index, trg_index, keys, t, history, prior)


def translation_table(model: IBM1, src: list[str], trg: list[str]) -> np.ndarray:
    """t(f_j | e_i) for one sentence pair, NULL as column 0; 0 for pairs never seen together
    (or words never seen).  -> (T, S + 1)"""
    n_trg = max(1, len(model.trg_index))
    e = np.array([0] + [model.src_index.get(w, -1) for w in src], dtype=np.int64)  # (S+1,)
    f = np.array([model.trg_index.get(w, -1) for w in trg], dtype=np.int64)  # (T,)
    if not len(model.keys):
        return np.zeros((len(trg), len(src) + 1))
    wanted = (e[None, :] * n_trg + f[:, None]).ravel()  # (T * (S+1),)
    known = ((e[None, :] >= 0) & (f[:, None] >= 0)).ravel()  # (T * (S+1),)
    where = np.searchsorted(model.keys, wanted).clip(max=len(model.keys) - 1)  # (T * (S+1),)
    values = np.where(known & (model.keys[where] == wanted), model.t[where], 0.0)
    return values.reshape(len(trg), len(src) + 1)  # (T, S + 1)


def posteriors(model: IBM1, src: list[str], trg: list[str]) -> np.ndarray:
    """p(a_j = i | e, f) for one sentence pair, NULL as column 0; an all-zero row for a target
    word that no stored pair explains.  -> (T, S + 1), rows summing to 1 or 0"""
    table = translation_table(model, src, trg) * alignment_prior(len(src), len(trg), model.prior)
    z = table.sum(axis=1, keepdims=True)  # (T, 1)
    return np.divide(table, z, out=np.zeros_like(table), where=z > 0)


def viterbi_alignment(model: IBM1, src: list[str], trg: list[str]) -> set[Link]:
    """The most probable alignment: each f_j linked to argmax_i p(a_j = i) t(f_j | e_i) (Model
    1's uniform prior leaves only t); no link where NULL wins or no pair is known."""
    table = translation_table(model, src, trg) * alignment_prior(len(src), len(trg), model.prior)
    links = set()
    for j, row in enumerate(table):
        i = int(np.argmax(row))
        if row[i] > 0 and i > 0:
            links.add((i - 1, j))
    return links
