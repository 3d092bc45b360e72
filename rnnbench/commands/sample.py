"""`rnnbench sample RUN_DIR [--prompt TEXT] [--length N] [--temperature T] [--seed S]`: text from a
trained language model (a run on dataset=text), read from its final checkpoint.

The prompt is tokenised as the run's corpus is (characters or words; a token the vocabulary lacks
becomes <unk>); without one, the model continues the first window of the test split, as the
sample.txt a run leaves does. Sampling is data.text.generate — softmax(logits / T), one token at
a time, the recurrent state carried (stateless models re-read their last window) — with a torch
generator seeded by `seed`, so the same seed gives the same text.
"""

from __future__ import annotations

from pathlib import Path

from rnnbench.errors import UserError, check_float, check_int


def sample(run_dir: Path, prompt: str | None, length: int, temperature: float, seed: int) -> tuple[str, str]:
    """(the prompt as the model read it, the generated text)."""
    import torch

    from rnnbench.commands.evaluate import load_trained
    from rnnbench.data.text import TextTask, generate

    length = check_int("--length", length, 1, 100_000)
    temperature = check_float("--temperature", temperature, 0.0, 100.0, low_open=True)
    seed = check_int("--seed", seed, 0, 2**63 - 1)
    built, _ = load_trained(run_dir)
    task = built.task
    if not isinstance(task, TextTask):
        raise UserError(
            f"{run_dir} is a run on {task.name}; rnnbench sample generates text from a language "
            "model (a run on dataset=text)"
        )
    if prompt is None:
        ids = task.splits()["test"].x[:1]
    elif prompt == "":
        raise UserError("--prompt is empty; give some text, or leave --prompt out to continue the test text")
    else:
        ids = task.vocab.encode(task.tokenize(prompt)).view(1, -1).to(task.splits()["test"].x.device)
    generator = torch.Generator(device=ids.device).manual_seed(seed)
    with torch.no_grad():
        out = generate(built.model, ids, length, temperature, generator, task.seq_len)
    return task.vocab.decode(ids[0].tolist(), task.level), task.vocab.decode(out, task.level)
