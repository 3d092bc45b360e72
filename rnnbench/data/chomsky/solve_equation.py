"""Solve equation (deterministic context-free): the digit x stands for in a bracketed equation mod 5.

A bracketed expression of L − 2 symbols with + and − (modular_arithmetic_brackets.expression), one
of its digits — the first at or after a uniformly drawn position, cyclically — replaced by x, then
`= value`: the answer is the digit replaced (unique: x enters with coefficient ±1).

    ((x+2)−(−3)) = 1  →  1

L < 3 has no equation: its input is L zeros and its answer 0 (as the authors'). Symbols: digits
0…4, then + − ( ) x = (5…10).
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.modular_arithmetic_brackets import CLOSE, MINUS, MODULUS, OPEN, PLUS, evaluate, expression
from rnnbench.data.chomsky.protocol import LengthGeneralisationTask

SYMBOLS = {PLUS: MODULUS, MINUS: MODULUS + 1, OPEN: MODULUS + 2, CLOSE: MODULUS + 3}  # without ×
UNSYMBOLS = {b: a for a, b in SYMBOLS.items()}
X, EQUALS = MODULUS + 4, MODULUS + 5


class SolveEquationTask(LengthGeneralisationTask):
    level = "context-free"
    input_symbols = MODULUS + 6
    output_symbols = MODULUS

    def draw(self, rng: random.Random, length: int) -> list[int]:
        if length < 3:
            return [0] * length
        s = expression(rng, length - 2, times=False)
        value = evaluate(s)
        i = rng.randrange(len(s))
        while s[i] >= MODULUS:
            i = (i + 1) % len(s)
        s = [SYMBOLS.get(a, a) for a in s]
        s[i] = X
        return [*s, EQUALS, value]

    def answer(self, s: list[int]) -> list[int]:
        if len(s) < 3:
            return [0]
        i = s.index(X)
        expr = [UNSYMBOLS.get(a, a) for a in s[:-2]]
        return [next(d for d in range(MODULUS) if evaluate(expr[:i] + [d] + expr[i + 1 :]) == s[-1])]
