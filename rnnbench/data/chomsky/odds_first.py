"""Odds first (context-sensitive): a binary string's symbols at even positions, then at odd ones.

    s_1 s_2 s_3 s_4 …  →  s_2 s_4 s_6 … s_1 s_3 s_5 …          e.g. 00110101 → 0111 0100

(As the authors' code, `concat(s[1::2], s[::2])` counting from 0; their docstring puts the other
half first.)
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.protocol import LengthGeneralisationTask


class OddsFirstTask(LengthGeneralisationTask):
    level = "context-sensitive"
    input_symbols = 2
    output_symbols = 2

    def output_length(self, length: int) -> int:
        return length

    def draw(self, rng: random.Random, length: int) -> list[int]:
        return rng.choices((0, 1), k=length)

    def answer(self, s: list[int]) -> list[int]:
        return s[1::2] + s[::2]
