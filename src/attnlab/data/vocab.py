"""Vocabulary: the four specials, then tokens by frequency (min frequency, max size).

Saved and loaded with a run as a plain list of strings (index = id).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
