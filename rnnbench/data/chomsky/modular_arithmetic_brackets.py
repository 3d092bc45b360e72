"""Modular arithmetic with brackets (deterministic context-free): the value mod 5 of a bracketed expression.

An expression of length L is grown as the authors' `generate_one_expression_and_result`:

    L = 1: d      L = 2: −d      L = 3: (d)      L = 4: (−d)          d ∈ {0…4}
    L ≥ 5: (e_1 ∘ e_2), e_1 of length l ~ U{1…L−4}, e_2 of length L − 3 − l,  ∘ ∈ {+, −, ×}

e.g. ((1+2)×(−3)) → 1. Symbols: digits 0…4, then + − × ( ) (5…9).
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.protocol import LengthGeneralisationTask

MODULUS = 5
PLUS, MINUS, TIMES, OPEN, CLOSE = range(MODULUS, MODULUS + 5)


def expression(rng: random.Random, length: int, times: bool, modulus: int = MODULUS) -> list[int]:
    """A random bracketed expression of exactly `length` symbols."""
    if length < 5:
        d = rng.randrange(modulus)
        return {1: [d], 2: [MINUS, d], 3: [OPEN, d, CLOSE], 4: [OPEN, MINUS, d, CLOSE]}[length]
    left = rng.randint(1, length - 4)
    op = rng.choice((PLUS, MINUS, TIMES) if times else (PLUS, MINUS))
    right = length - 3 - left
    return [OPEN, *expression(rng, left, times, modulus), op, *expression(rng, right, times, modulus), CLOSE]


def evaluate(s: list[int], modulus: int = MODULUS) -> int:
    """The value mod `modulus` of a bracketed expression (the grammar above, read left to right)."""

    def term(i: int) -> tuple[int, int]:  # (value, index after it)
        if s[i] == MINUS:
            return -s[i + 1], i + 2
        if s[i] != OPEN:
            return s[i], i + 1
        if s[i + 2] == CLOSE or (s[i + 1] == MINUS and s[i + 3] == CLOSE):  # (d) or (−d)
            value, i = term(i + 1)
            return value, i + 1
        a, i = term(i + 1)
        op = s[i]
        b, i = term(i + 1)
        return {PLUS: a + b, MINUS: a - b, TIMES: a * b}[op], i + 1

    value, end = term(0)
    if end != len(s):
        raise ValueError(f"not one bracketed expression: {s}")
    return value % modulus


class ModularArithmeticBracketsTask(LengthGeneralisationTask):
    level = "context-free"
    input_symbols = MODULUS + 5
    output_symbols = MODULUS

    def draw(self, rng: random.Random, length: int) -> list[int]:
        return expression(rng, length, times=True)

    def answer(self, s: list[int]) -> list[int]:
        return [evaluate(s)]
