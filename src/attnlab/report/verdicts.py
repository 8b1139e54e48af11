"""Structured verdicts: what each experiment says about the seed's four quiz questions, as data
the report renders (the report never reads an experiment's metrics itself). The lab writes
them, the report reads them; this module is the contract between the two.

A verdict is one claim checked on one corpus:

    {"question": one of QUESTIONS, "claim": str, "corpus": str, "real": bool (a natural
     language corpus, not a synthetic task), "expected": str, "measured": str,
     "holds": "yes" | "no" | "unclear", "evidence": bool}

"evidence" is False for a figure that must not count for or against the claim (a real-language
model below the lab's BLEU floor, a synthetic one that has not learned its task); the report
shows such a verdict greyed. An experiment returns its verdicts as result["verdicts"].
"""

from __future__ import annotations

from typing import Any, Literal

Holds = Literal["yes", "no", "unclear"]
# The seed's four questions, in the report's order, by key: (question, the principle).
QUESTIONS = {
    "bottleneck": (
        "What is the core problem with vanilla seq2seq encoder-decoder models?",
        "The encoder must squeeze the whole source into one fixed-width vector c = h_S, and the "
        "decoder sees nothing else: the longer the source, the more of it is lost (the "
        "information bottleneck), and what it read first is furthest from the output.",
    ),
    "attention": (
        "How does Bahdanau attention solve the information bottleneck?",
        "Each decoder step i computes its own context c_i = sum_j alpha_ij h_j over all encoder "
        "states, with weights alpha_ij = softmax_j(e_ij) from a learned score of the decoder "
        "state against each h_j, so nothing has to fit into one vector and the weights act as "
        "a soft word alignment.",
    ),
    "transformer": (
        "What limitation of Bahdanau attention did the Transformer architecture address?",
        "Bahdanau attention still sits on recurrent encoders and decoders: positions are "
        "processed one after another (no parallelism over a sequence in training) and "
        "information between two words still travels through the recurrence, a path as long "
        "as their distance. Self-attention connects every pair of positions in one step and "
        "computes all positions at once.",
    ),
    "uniform": (
        "If all attention weights alpha_ij are equal (1/T each), what does the context vector "
        "approximate?",
        "The mean of the encoder states, c_i = (1/T) sum_j h_j: the same vector for every "
        "target word, an order-blind average of the source, so attention degenerates into a "
        "fixed context again (an average instead of the last state).",
    ),
}
# corpora of made-up languages (synthetic tasks, random tokens for timing)
SYNTHETIC = ("translation", "reverse", "copy", "sort", "random tokens")


def verdict(
    question: str,
    claim: str,
    corpus: str,
    expected: str,
    measured: str,
    holds: Holds,
    evidence: bool = True,
) -> dict[str, Any]:
    """One verdict (see the module docstring); "real" follows from the corpus name."""
    if question not in QUESTIONS:
        raise ValueError(f"unknown question {question!r}")
    return {
        "question": question,
        "claim": claim,
        "corpus": corpus,
        "real": corpus not in SYNTHETIC,
        "expected": expected,
        "measured": measured,
        "holds": holds,
        "evidence": evidence,
    }


def compare(
    value: float | None,
    low: float | None = None,
    high: float | None = None,
    at_most: float | None = None,
    at_least: float | None = None,
) -> Holds:
    """Whether `value` (with its interval [low, high] when there is one) is at most `at_most`
    or at least `at_least`: "yes" when the whole interval is on the expected side, "no" when the
    whole interval is on the other side, "unclear" when it straddles the bound or nothing was
    measured. Without an interval the value alone decides."""
    if value is None:
        return "unclear"
    low = value if low is None else low
    high = value if high is None else high
    if at_most is not None:
        return "yes" if high <= at_most else "no" if low > at_most else "unclear"
    if at_least is not None:
        return "yes" if low >= at_least else "no" if high < at_least else "unclear"
    raise ValueError("give at_most or at_least")
