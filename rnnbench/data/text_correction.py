"""Character-level spelling correction: map a corrupted window of real text back to the clean one.

Text: ``corpus`` = tinyshakespeare (shipped) or a path to a UTF-8 file, every whitespace run
collapsed to one space, cut contiguously into train/val/test parts (``split``). Clean windows
of ``window`` characters start at uniform positions inside their part, so no window crosses parts.

Corruption (seeded; numpy generator per split): scanning the clean window left to right, each
character is the site of an edit with probability q, the edit drawn uniformly from
``operations``:
    insert      a random letter before the character
    delete      drop the character
    substitute  a different random letter (a space or punctuation mark becomes a letter)
    swap        exchange the character with the next one (both are consumed; a swap drawn at the
                last character becomes one of the other operations, or nothing if swap is the only one)
Random letters are the lowercase letters a–z. A swap consumes two characters and cannot start at
the last one, so q is not simply ``rate``: it is solved (bisection on the exact expectation, see
`expected_edits`) so that the expected number of edits per clean character is exactly ``rate``
(tested against the measured rate).

x: (N, S) long, the corrupted window left-padded to the longest corrupted window of the task;
y: (N, window + 1) long, the clean window then EOS. Metrics and baseline: transduction.py (CER and
exact match; "identity" leaves the input as it is, the number to beat).
"""

from __future__ import annotations

import functools
import re
import string

import numpy as np

from rnnbench.data.files import bundled, read_text, user_file
from rnnbench.data.task import MAX_SAMPLES, SPLITS, InputSpec, Split, split_seed
from rnnbench.data.text import TINYSHAKESPEARE_SHA256
from rnnbench.data.transduction import SPECIALS, TransductionTask, pad_left, target_tensor
from rnnbench.errors import ConfigError, UserError, check_choice, check_float, check_fractions, check_int

OPERATIONS = ("insert", "delete", "substitute", "swap")


class TextCorrectionTask(TransductionTask):
    name = "text_correction"

    def __init__(
        self,
        corpus: str = "tinyshakespeare",
        window: int = 24,
        rate: float = 0.1,
        operations: tuple[str, ...] | list[str] = OPERATIONS,
        split: tuple = (0.9, 0.05, 0.05),
        n_train: int = 50_000,
        n_val: int = 1_000,
        n_test: int = 1_000,
        data_dir: str = "datasets",
        seed: int = 0,
        solved_at: float | None = None,
        name: str | None = None,
    ):
        super().__init__(seed, solved_at, name)
        if not isinstance(corpus, str) or not corpus:
            raise ConfigError("corpus", "must be tinyshakespeare or a path to a UTF-8 text file", corpus)
        self.corpus = corpus
        self.seq_len = self.window = check_int("window", window, 2, 10_000)
        self.rate = check_float("rate", rate, 0.0, 0.5)
        if isinstance(operations, str) or not hasattr(operations, "__iter__") or not list(operations):
            raise ConfigError("operations", f"must be a non-empty list of {', '.join(OPERATIONS)}", operations)
        self.operations = [check_choice("operations", op, OPERATIONS) for op in operations]
        self.fractions = check_fractions("split", split, 3)
        self.sizes = dict(
            zip(
                SPLITS,
                (
                    check_int("n_train", n_train, 1, MAX_SAMPLES),
                    check_int("n_val", n_val, 1, MAX_SAMPLES),
                    check_int("n_test", n_test, 1, MAX_SAMPLES),
                ),
            )
        )
        self.data_dir = data_dir
        self.site_probability  # noqa: B018  (a rate these operations cannot reach fails here, before reading)
        text = re.sub(r"\s+", " ", self._read()).strip()
        self.symbols = "".join(sorted(set(text)))
        self.parts = self._parts(text)
        self.letters = np.array(
            [SPECIALS + self.symbols.index(c) for c in string.ascii_lowercase if c in self.symbols]
            or [SPECIALS + i for i in range(len(self.symbols))]
        )
        self.input = InputSpec("tokens", SPECIALS + len(self.symbols))
        self.output_size = SPECIALS + len(self.symbols)

    def _read(self) -> str:
        if self.corpus == "tinyshakespeare":
            return read_text(bundled("tinyshakespeare.txt", TINYSHAKESPEARE_SHA256, self.data_dir), "dataset.corpus")
        if "/" not in self.corpus and "." not in self.corpus:
            raise ConfigError("corpus", "must be tinyshakespeare or a path to a UTF-8 text file", self.corpus)
        return read_text(user_file(self.corpus, "dataset.corpus"), "dataset.corpus")

    def _parts(self, text: str) -> dict[str, np.ndarray]:
        index = {c: SPECIALS + i for i, c in enumerate(self.symbols)}
        ids = np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))
        cuts = np.cumsum([0, *(int(len(ids) * f) for f in self.fractions)])
        parts = {split: ids[cuts[i] : cuts[i + 1]] for i, split in enumerate(SPLITS)}
        for split, part in parts.items():
            if len(part) < self.window:
                raise UserError(
                    f"dataset: the {split} part of {self.corpus} has {len(part)} characters, fewer than "
                    f"dataset.window = {self.window}; use a shorter window or more text"
                )
        return parts

    def expected_edits(self, q: float) -> float:
        """Expected edits in a window of n characters at site probability q, with p the share of
        swaps and E_r the expectation over the last r characters:
            E_0 = 0,  E_1 = q·[an operation other than swap exists],
            E_r = q·(1 + p·E_{r−2} + (1 − p)·E_{r−1}) + (1 − q)·E_{r−1}."""
        p = self.operations.count("swap") / len(self.operations)
        before, last = 0.0, q * (p < 1)  # E_{r−2}, E_{r−1}
        for _ in range(2, self.window + 1):
            before, last = last, q * (1 + p * before + (1 - p) * last) + (1 - q) * last
        return last

    @functools.cached_property
    def site_probability(self) -> float:
        """The q whose expected edits per character is `rate`."""
        goal = self.rate * self.window
        if self.expected_edits(1.0) < goal:
            raise ConfigError(
                "rate",
                f"cannot be reached with operations {self.operations} on windows of "
                f"{self.window} characters (at most {self.expected_edits(1.0) / self.window:.3f})",
                self.rate,
            )
        low, high = 0.0, 1.0
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if self.expected_edits(middle) < goal else (low, middle)
        return (low + high) / 2

    def corrupt(self, clean: np.ndarray, rng: np.random.Generator) -> tuple[list[int], int]:
        """One corrupted window and its number of edits."""
        q = self.site_probability
        n = len(clean)
        sites = rng.random(n) < q
        choices = rng.integers(len(self.operations), size=n)
        letters = self.letters[rng.integers(len(self.letters), size=n)]
        out, edits, i = [], 0, 0
        while i < n:
            c = int(clean[i])
            if not sites[i]:
                out.append(c)
                i += 1
                continue
            op = self.operations[choices[i]]
            if op == "swap" and i == n - 1:
                others = [o for o in self.operations if o != "swap"]
                if not others:
                    out.append(c)
                    break
                op = others[choices[i] % len(others)]
            edits += 1
            if op == "insert":
                out += [int(letters[i]), c]
            elif op == "substitute":
                other = int(letters[i])
                if other == c:  # a different letter: the next one, cyclically
                    other = int(self.letters[(np.searchsorted(self.letters, c) + 1) % len(self.letters)])
                out.append(other)
            elif op == "swap":
                out += [int(clean[i + 1]), c]
                i += 1
            i += 1
        return out, edits

    def make_splits(self) -> dict[str, Split]:
        sources, cleans, self.edits = {}, {}, {}
        for index, split in enumerate(SPLITS):
            rng = np.random.default_rng(split_seed(self.seed, index))
            part = self.parts[split]
            starts = rng.integers(0, len(part) - self.window + 1, size=self.sizes[split])
            cleans[split] = [part[s : s + self.window] for s in starts]
            corrupted = [self.corrupt(window, rng) for window in cleans[split]]
            sources[split] = [c for c, _ in corrupted]
            self.edits[split] = sum(e for _, e in corrupted)
        width = max(max(len(s) for s in rows) for rows in sources.values())
        return {
            split: Split(
                pad_left(sources[split], width), target_tensor([w.tolist() for w in cleans[split]], self.window + 1)
            )
            for split in SPLITS
        }

    def measured_rate(self, split: str = "train") -> float:
        """Edits made per clean character in a split (compare with `rate`)."""
        self.splits()
        return self.edits[split] / (self.sizes[split] * self.window)

    def describe(self) -> dict:
        return {
            **super().describe(),
            "corpus": self.corpus,
            "window": self.window,
            "rate": self.rate,
            "measured_rate": {s: round(self.measured_rate(s), 5) for s in SPLITS},
            "operations": self.operations,
            "alphabet": len(self.symbols),
        }
