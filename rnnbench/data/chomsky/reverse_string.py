"""Reverse string (deterministic context-free): a binary string backwards.

s_1 … s_L  →  s_L … s_1                                    e.g. 011010 → 010110
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.protocol import LengthGeneralisationTask


class ReverseStringTask(LengthGeneralisationTask):
    level = "context-free"
    input_symbols = 2
    output_symbols = 2

    def output_length(self, length: int) -> int:
        return length

    def draw(self, rng: random.Random, length: int) -> list[int]:
        return rng.choices((0, 1), k=length)

    def answer(self, s: list[int]) -> list[int]:
        return s[::-1]
