"""Compute sqrt (context-sensitive): the integer square root of a big-endian binary number.

n ~ U[1, 2^L − 1] on L bits  →  ⌊√n⌋ on ⌈L/2⌉ bits, both big-endian      e.g. 100101 (37) → 110 (6)
"""

from __future__ import annotations

import math
import random

from rnnbench.data.chomsky.binary_addition import binary
from rnnbench.data.chomsky.protocol import LengthGeneralisationTask


class ComputeSqrtTask(LengthGeneralisationTask):
    level = "context-sensitive"
    input_symbols = 2
    output_symbols = 2

    def output_length(self, length: int) -> int:
        return math.ceil(length / 2)

    def draw(self, rng: random.Random, length: int) -> list[int]:
        return binary(rng.randint(1, 2**length - 1), length, little_endian=False)

    def answer(self, s: list[int]) -> list[int]:
        n = int("".join(map(str, s)), 2)
        return binary(math.isqrt(n), self.output_length(len(s)), little_endian=False)
