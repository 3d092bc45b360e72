"""Stack manipulation (deterministic context-free): run stack instructions, output the final stack.

Input: a binary stack (bottom to top) of 1…L−1 symbols, then the rest of the L symbols instructions
POP, PUSH 0, PUSH 1 (symbols 2, 3, 4; POP on an empty stack does nothing). Output: the final stack
from top to bottom, the termination symbol 2, then 0s up to L + 1 symbols (scored up to the 2):

    0 1 1 0 PUSH1 POP POP  →  1 1 0 2 0 0 0 0          1 1 0 POP POP POP  →  2 0 0 0 0 0 0 0

L = 1 is a single bit and the output that bit then 2.
"""

from __future__ import annotations

import random

from rnnbench.data.chomsky.protocol import LengthGeneralisationTask

POP, PUSH_0, PUSH_1 = 2, 3, 4
END = 2


class StackManipulationTask(LengthGeneralisationTask):
    level = "context-free"
    input_symbols = 5
    output_symbols = 3
    terminates = True

    def output_length(self, length: int) -> int:
        return length + 1

    def draw(self, rng: random.Random, length: int) -> list[int]:
        if length == 1:
            return [rng.randrange(2)]
        stack = rng.choices((0, 1), k=rng.randint(1, length - 1))
        return stack + rng.choices((POP, PUSH_0, PUSH_1), k=length - len(stack))

    def answer(self, s: list[int]) -> list[int]:
        stack = []
        for a in s:
            if a < POP:  # the initial stack, bottom to top
                stack.append(a)
            elif a == POP:
                if stack:
                    stack.pop()
            else:
                stack.append(a - PUSH_0)
        out = stack[::-1] + [END]
        return out + [0] * (len(s) + 1 - len(out))
