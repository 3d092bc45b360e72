"""Duplicate string (context-sensitive): a binary string written twice.

s_1 … s_L  →  s_1 … s_L s_1 … s_L                         e.g. 101 → 101101
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.protocol import LengthGeneralisationTask


class DuplicateStringTask(LengthGeneralisationTask):
    level = "context-sensitive"
    input_symbols = 2
    output_symbols = 2

    def output_length(self, length: int) -> int:
        return 2 * length

    def draw(self, rng: random.Random, length: int) -> list[int]:
        return rng.choices((0, 1), k=length)

    def answer(self, s: list[int]) -> list[int]:
        return s + s
