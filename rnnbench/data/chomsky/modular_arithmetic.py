"""Modular arithmetic (regular): the value mod 5 of an expression without brackets.

    n_1 ∘ n_2 ∘ … ∘ n_k,  n_i ∈ {0…4}, ∘ ∈ {+, −, ×}  →  its value mod 5      e.g. 1 + 2 × 3 → 2,  1 − 1 − 1 → 4

× binds tighter than + and −, which associate to the left. An expression has odd length: an even
L gives one of L − 1 symbols (as the authors'). Symbols: digits 0…4, then + − × (5, 6, 7).
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.protocol import LengthGeneralisationTask

MODULUS = 5
PLUS, MINUS, TIMES = MODULUS, MODULUS + 1, MODULUS + 2


def evaluate(expression: list[int], modulus: int = MODULUS) -> int:
    """The value mod `modulus` of digits and operators alternating (× before + and −)."""
    total, sign, product = 0, 1, expression[0]
    for op, digit in zip(expression[1::2], expression[2::2]):
        if op == TIMES:
            product *= digit
        else:
            total += sign * product
            sign, product = (1 if op == PLUS else -1), digit
    return (total + sign * product) % modulus


class ModularArithmeticTask(LengthGeneralisationTask):
    level = "regular"
    input_symbols = MODULUS + 3
    output_symbols = MODULUS

    def draw(self, rng: random.Random, length: int) -> list[int]:
        length -= 1 - length % 2  # odd
        s = rng.choices(range(MODULUS), k=length)
        s[1::2] = rng.choices((PLUS, MINUS, TIMES), k=length // 2)
        return s

    def answer(self, s: list[int]) -> list[int]:
        return [evaluate(s)]
