"""Binary multiplication (context-sensitive): the product of two little-endian binary numbers.

Input as binary addition's (binary_addition.operands); output n · m little-endian without trailing
zeros, the termination symbol 2, then 0s up to L symbols (scored up to the 2):

    001 2 01101  →  0001101 2 0          (4 · 22 = 88)

L ≤ 2: the input is a number on L bits, the output L − 1 zeros then 2 (as the authors').
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.binary_addition import END, SEPARATOR, binary, operands, read_operands
from rnnbench.data.chomsky.protocol import LengthGeneralisationTask


class BinaryMultiplicationTask(LengthGeneralisationTask):
    level = "context-sensitive"
    input_symbols = 3
    output_symbols = 3
    terminates = True

    def output_length(self, length: int) -> int:
        return length

    def draw(self, rng: random.Random, length: int) -> list[int]:
        if length <= 2:
            return binary(rng.randrange(2**length - 1), length)
        return operands(rng, length)

    def answer(self, s: list[int]) -> list[int]:
        if SEPARATOR not in s:
            return [0] * (len(s) - 1) + [END]
        n, m = read_operands(s)
        result = binary(n * m)
        return result + [END] + [0] * (len(s) - 1 - len(result))
