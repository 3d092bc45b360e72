"""Binary addition (context-sensitive): the sum of two little-endian binary numbers.

Input n + m: n of l ~ U{1…L−2} bits, m of the other L − 1 − l, each drawn uniformly from
[1, 2^bits − 1] and written little-endian to its width, separated by the symbol 2. Output: n + m
little-endian without trailing zeros, the termination symbol 2, then 0s up to L + 1 symbols (scored
up to the 2):

    001 2 01101  →  01011 2 000          (4 + 22 = 26)

L ≤ 2: the input is a number in [0, 2^L − 2] on L bits and the output that number (as the authors').
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.protocol import LengthGeneralisationTask

SEPARATOR = END = 2


def binary(number: int, width: int = 0, little_endian: bool = True) -> list[int]:
    """`number` in binary, zero-padded to `width` digits (no padding with width 0: 0 is [0])."""
    digits = [int(d) for d in f"{number:b}".zfill(width)]
    return digits[::-1] if little_endian else digits


def operands(rng: random.Random, length: int) -> list[int]:
    """Two random numbers whose little-endian digits, joined by the separator, fill `length` ≥ 3 symbols."""
    n_bits = rng.randint(1, length - 2)
    m_bits = length - 1 - n_bits
    n, m = rng.randint(1, 2**n_bits - 1), rng.randint(1, 2**m_bits - 1)
    return binary(n, n_bits) + [SEPARATOR] + binary(m, m_bits)


def read_operands(s: list[int]) -> list[int]:
    """The numbers of a little-endian input, split at the separator."""
    parts, part = [], []
    for a in [*s, SEPARATOR]:
        if a == SEPARATOR:
            parts.append(sum(bit << i for i, bit in enumerate(part)))
            part = []
        else:
            part.append(a)
    return parts


class BinaryAdditionTask(LengthGeneralisationTask):
    level = "context-sensitive"
    input_symbols = 3
    output_symbols = 3
    terminates = True

    def output_length(self, length: int) -> int:
        return length + 1

    def draw(self, rng: random.Random, length: int) -> list[int]:
        if length <= 2:
            return binary(rng.randrange(2**length - 1), length)
        return operands(rng, length)

    def answer(self, s: list[int]) -> list[int]:
        numbers = read_operands(s)
        result = binary(sum(numbers))
        return result + [END] + [0] * (len(s) - len(result))
