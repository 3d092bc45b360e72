"""Cycle navigation (regular): where on a cycle of 5 positions does a walk from position 0 end?

    s ∈ {0, 1, 2}^L, step s_t − 1 ∈ {−1, 0, +1}  →  (Σ_t (s_t − 1)) mod 5

(As the authors' code: symbol 0 steps left, 1 stays, 2 steps right; their docstring's labelling
differs.) e.g. 2 0 1 0 0 → −2 → 3.
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.protocol import LengthGeneralisationTask

CYCLE = 5


class CycleNavigationTask(LengthGeneralisationTask):
    level = "regular"
    input_symbols = 3
    output_symbols = CYCLE

    def draw(self, rng: random.Random, length: int) -> list[int]:
        return rng.choices((0, 1, 2), k=length)

    def answer(self, s: list[int]) -> list[int]:
        return [sum(a - 1 for a in s) % CYCLE]
