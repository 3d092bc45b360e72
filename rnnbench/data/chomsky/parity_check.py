"""Parity check (regular): is the number of ones in a binary string even?

s ∈ {0, 1}^L  →  (Σ_t s_t) mod 2                        e.g. 1010100 → 1,  01111 → 0
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.protocol import LengthGeneralisationTask


class ParityCheckTask(LengthGeneralisationTask):
    level = "regular"
    input_symbols = 2
    output_symbols = 2

    def draw(self, rng: random.Random, length: int) -> list[int]:
        return rng.choices((0, 1), k=length)

    def answer(self, s: list[int]) -> list[int]:
        return [sum(s) % 2]
