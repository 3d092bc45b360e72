"""Bucket sort (context-sensitive): a string over 5 symbols in ascending order.

s ∈ {0…4}^L  →  sorted(s)                                 e.g. 10204112 → 00111224
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.protocol import LengthGeneralisationTask

VOCABULARY = 5


class BucketSortTask(LengthGeneralisationTask):
    level = "context-sensitive"
    input_symbols = VOCABULARY
    output_symbols = VOCABULARY

    def output_length(self, length: int) -> int:
        return length

    def draw(self, rng: random.Random, length: int) -> list[int]:
        return rng.choices(range(VOCABULARY), k=length)

    def answer(self, s: list[int]) -> list[int]:
        return sorted(s)
