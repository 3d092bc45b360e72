"""Missing duplicate (context-sensitive): the bit hidden in a string written twice.

A binary string w of ⌊L/2⌋ bits, written twice (ww), one position of ww replaced by the
placeholder 2; an odd L ends with the empty symbol 3. The answer is the hidden bit:

    0110 0210  →  1            101 1 2 1 3  →  0

L = 1 has no string: its input is 1 and its answer 1 (as the authors').
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.protocol import LengthGeneralisationTask

HIDDEN, EMPTY = 2, 3


class MissingDuplicateTask(LengthGeneralisationTask):
    level = "context-sensitive"
    input_symbols = 4
    output_symbols = 2

    def draw(self, rng: random.Random, length: int) -> list[int]:
        if length == 1:
            return [1]
        w = rng.choices((0, 1), k=length // 2)
        s = w + w
        s[rng.randrange(len(s))] = HIDDEN
        return s + [EMPTY] * (length % 2)

    def answer(self, s: list[int]) -> list[int]:
        if len(s) == 1:
            return [1]
        half = len(s) // 2
        i = s.index(HIDDEN)
        return [s[i + half] if i < half else s[i - half]]
