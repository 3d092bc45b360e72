"""Even pairs (regular): is the number of unequal neighbours (01 and 10 pairs) in a binary string even?

    s ∈ {0, 1}^L  →  (#{t : s_t ≠ s_{t+1}}) mod 2          e.g. 001110 → 0,  0101001 → 1

The count is odd exactly when s_1 ≠ s_L, so a model only has to keep the first symbol.
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.protocol import LengthGeneralisationTask


class EvenPairsTask(LengthGeneralisationTask):
    level = "regular"
    input_symbols = 2
    output_symbols = 2

    def draw(self, rng: random.Random, length: int) -> list[int]:
        return rng.choices((0, 1), k=length)

    def answer(self, s: list[int]) -> list[int]:
        return [sum(a != b for a, b in zip(s, s[1:])) % 2]
