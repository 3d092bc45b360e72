"""Batched members: K runs of one configuration that differ only in seed or optimizer settings,
trained as one model in one process.

    train_members(jobs, batching) → for each job its summary, or the exception it raised

Each member is an ordinary run (trainer.Run) in its own folder, built by `build` from its own
config: it starts from exactly the weights of the single run with its seed, draws exactly that
run's batches (its own batch order; its own data when `dataset.seed` differs) and has its own
optimizer, learning rate and weight decay. Only the forward and backward pass is shared. At each
step the members' weights are stacked along a member dimension (`torch.stack`, so gradients flow
back into each member's own tensors), their batches concatenated member-major, and one forward
pass of a template of the model runs with each parameter replaced by the members' copies
(`stacked.Stacked`: the per-member operations are described there; the cells stay plain
PyTorch). The loss is the sum of the members' losses, so each member's
gradient is its own. Clipping, the optimizer step, validation, stops, checkpoints and the record
are each member's (`Run.update`, `Run.after_step`), exactly as in a single run: a member that
diverges is recorded failed at its step and leaves the batch, one that stops (plateau, solved,
pruned, max_steps) finishes, and the others go on. A killed batched run resumes each unfinished
member from its own checkpoint (members may then be at different steps; each keeps its own batch
order). A member's record is a single run's plus `members` (K) and `member` (its index).

The template is the model built with impl=reference where the members run a fused torch.nn
kernel (weights renamed by diagnostics.reference_state_dict); it computes the same function.
Before the first step, its batched output on two training samples of each member is compared
with that member's own model: a model whose operations are not all member-aware fails that check
or raises, and its members then run one after another, as do members that cannot be batched
exactly (`why_not_batched`). It is said once, in the log.

Timing: a member's `train_s` is the wall time of the batched steps it took part in, so its
`tokens_per_s` is what that member got, not the batch's total (K times as much): compare speeds
between runs of the same `members`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn
from torch.func import functional_call
from tqdm.contrib.logging import logging_redirect_tqdm

from rnnbench.config import BATCHING, MEMBER_KEYS
from rnnbench.errors import ConfigError, UserError, check_choice
from rnnbench.models.conv_cells import ConvGateCell
from rnnbench.models.recurrent import Recurrent
from rnnbench.training.build import build_model
from rnnbench.training.diagnostics import reference_state_dict
from rnnbench.training.memory import SavedTensors, check_fits
from rnnbench.training.record import flatten
from rnnbench.training.stacked import NotMemberAware, stacked
from rnnbench.training.trainer import Completed, Run, prepared

log = logging.getLogger("rnnbench")


@dataclass
class Job:
    """One run to train: its config, its folder, and files to write beside its record."""

    cfg: DictConfig
    run_dir: Path
    files: dict[str, str] = field(default_factory=dict)


def train_members(jobs: list[Job], batching: str = "auto") -> list[dict | Exception]:
    """Train the jobs (configs equal but for MEMBER_KEYS) as one batched run where they can be
    (`why_not_batched`, `BatchedRun.check`), else one after another, each then exactly as
    `trainer.train` would. A job whose folder is refused or whose config is wrong gets its
    exception; the others go on."""
    results: list[dict | Exception | None] = [None] * len(jobs)
    with contextlib.ExitStack() as stack:
        runs: dict[int, Run] = {}
        rng: dict[int, Tensor] = {}
        for i, job in enumerate(jobs):
            try:
                run = stack.enter_context(prepared(job.cfg, job.run_dir))
            except Completed as done:  # the folder holds the completed run
                results[i] = done.summary
                continue
            except Exception as exc:
                results[i] = exc
                continue
            runs[i], rng[i] = run, torch.get_rng_state()  # where its single run would start training
        reason = why_not_batched(list(runs.values()), batching)
        if reason is None:
            batch = BatchedRun(runs, {i: jobs[i].files for i in runs})
            reason = batch.check()
        if reason is None:
            try:
                batch.check_memory()
            except UserError as exc:  # nothing is written yet
                return [exc if i in runs else result for i, result in enumerate(results)]
            for i, outcome in batch.train().items():
                results[i] = outcome
            return results
        if len(runs) > 1:
            first = next(iter(runs.values()))
            log.info(
                "%d runs of %s on %s one after another, not batched: %s",
                len(runs),
                first.summary.model,
                first.task.name,
                reason,
            )
        for i, run in runs.items():
            torch.set_rng_state(rng[i])
            try:
                results[i] = run.train(jobs[i].files)
            except Exception as exc:
                results[i] = exc
    return results


def why_not_batched(runs: list[Run], batching: str = "auto") -> str | None:
    """Why these runs cannot (or, with batching=auto, should not) be trained as one batched run,
    or None. Checked before anything is written."""
    check_choice("batching", batching, BATCHING)
    if len(runs) < 2:
        return "a single run"
    if batching == "never":
        return "batching=never"
    first = runs[0]
    plain = {key: value for key, value in flatten(first.config).items() if key not in MEMBER_KEYS}
    for run in runs[1:]:
        other = {key: value for key, value in flatten(run.config).items() if key not in MEMBER_KEYS}
        differ = sorted(key for key in plain.keys() | other.keys() if plain.get(key) != other.get(key))
        if differ:
            return f"their configs differ in {', '.join(differ[:3])} (members may differ in {', '.join(MEMBER_KEYS)})"
    if first.task.stateful:
        return "the task carries the recurrent state from batch to batch (truncated BPTT)"
    for module in first.model.modules():
        rate = module.p if isinstance(module, nn.Dropout) else getattr(module, "dropout", 0)  # nn.GRU's float too
        if isinstance(rate, float) and rate > 0:
            return (
                "dropout draws its masks from one random generator per process: members would not draw "
                "their single runs' masks"
            )
    if batching == "auto":
        return slower_batched(first, len(runs))
    return None


# batching=auto on the CPU: the largest batch × width at which batched members beat runs one after
# another at every K measured (4–32; benchmarks/members.py, T = 100, batch 64, 2 threads:
# benchmarks/README.md, "Batched members"). Beyond it a step is arithmetic, not dispatch.
AUTO_CPU_LIMIT = {"scan": 64 * 32, "loop": 64 * 64}


def slower_batched(run: Run, members: int = 2) -> str | None:
    """The measured rule of batching=auto (benchmarks/README.md, "Batched members") for `members`
    runs like `run`, or None where batching wins. On the CPU: never torch's fused LSTM (oneDNN's
    kernel for one small LSTM is so fast that K of them one after another beat one batched
    reference LSTM at every K and width measured), not the convolutional cells (not measured), never
    a model without a recurrence (TCN: grouped convolutions gained nothing), never where the
    members' batch together would push a cell past the size up to which its parallel form is the
    faster (`parallel_tokens_up_to`, Mamba, GLA: each run alone scans, the batch would take the
    loop); otherwise batch × width up to AUTO_CPU_LIMIT (scan cells, minGRU/minLSTM, gain least:
    one scan is already a few large operations). On CUDA, where a small model leaves the device idle
    whatever its kernel, always (not measured here: no GPU)."""
    if run.settings.device != "cpu":
        return None
    if any(isinstance(m, nn.LSTM) for m in run.model.modules()):
        return "the fused LSTM kernel on the CPU is faster one run after another (measured)"
    if any(isinstance(m, ConvGateCell) for m in run.model.modules()):
        return (
            "a convolutional recurrence (ConvLSTM, ConvGRU) batched is not measured on the CPU; "
            "hydra.launcher.batching=always batches it (exactly)"
        )
    if not any(isinstance(m, Recurrent) for m in run.model.modules()):
        return (
            "a model without a recurrence is a few large operations already (the TCN's convolutions gained "
            "nothing batched on the CPU, measured)"
        )
    limits = [m.parallel_tokens_up_to for m in run.model.modules() if getattr(m, "parallel_tokens_up_to", None)]
    tokens = run.settings.batch_size * run.task.splits()["train"].x.shape[1]  # batch × time steps of one run
    if limits and tokens <= min(limits) < members * tokens:
        return (
            f"{members} members of batch × steps {tokens} would take the cell past {min(limits)}, beyond which "
            "it runs its loop instead of its faster parallel form (measured; each run alone scans)"
        )
    width = run.model.sizing.get("hidden_size") or run.config["model"].get("hidden_size")
    kind = "scan" if any(getattr(m, "impl", None) == "scan" for m in run.model.modules()) else "loop"
    work = run.settings.batch_size * width if isinstance(width, int) else None
    if work is not None and work > AUTO_CPU_LIMIT[kind]:
        return (
            f"batch × width {work} is above {AUTO_CPU_LIMIT[kind]}, where batched members stop beating runs one "
            "after another on the CPU (measured; hydra.launcher.batching=always batches anyway)"
        )
    return None


class MemberLog(logging.LoggerAdapter):
    """A member's log lines, each led by what tells the member apart: `[seed=1] step 20 …`."""

    def process(self, msg, kwargs):
        return f"[{self.extra['member']}] {msg}", kwargs


def member_tags(runs: list[Run]) -> list[str]:
    """What tells each member apart: its values of the MEMBER_KEYS that vary between the members
    (a key that varies alike with an earlier one, dataset.seed with seed, is left out), or its
    index when none does."""
    configs = [flatten(run.config) for run in runs]
    keys, seen = [], []
    for key in MEMBER_KEYS:
        values = [str(c.get(key)) for c in configs]
        if len(set(values)) > 1 and values not in seen:
            keys.append(key)
            seen.append(values)
    return [" ".join(f"{k}={c.get(k)}" for k in keys) or f"member {k}" for k, c in enumerate(configs)]


class BatchedRun:
    """The members (`runs`: job index → Run, each started or resumed, its folder locked) and
    the template that computes all of them at once."""

    def __init__(self, runs: dict[int, Run], files: dict[int, dict[str, str]]):
        self.runs, self.files = runs, files
        first = next(iter(runs.values()))
        self.template = template_of(first)
        own = [name for name, _ in first.model.named_parameters()]
        self.names = reference_state_dict({name: name for name in own})  # template name → member name
        self.weights = {i: dict(run.model.named_parameters()) for i, run in runs.items()}

    def check(self) -> str | None:
        """None when the template, on two training samples of each member, gives each member's
        own output (to float tolerance); else why not."""
        template_names = {name for name, _ in self.template.named_parameters()}
        if template_names != set(self.names) or list(self.template.buffers()):
            return f"{self.template.__class__.__name__}'s parameters cannot be stacked by name"
        indices = list(self.runs)
        samples = [self.runs[i].task.splits()["train"] for i in indices]
        x = torch.cat([data.x[:2] for data in samples])
        y = torch.cat([data.y[:2] for data in samples])
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                before = torch.get_rng_state()
                batched = self.forward(indices, x, y).split(2)
                if not torch.equal(before, torch.get_rng_state()):
                    return (
                        "its forward pass draws random numbers (teacher forcing, sampling): members would not "
                        "draw their single runs'"
                    )
                own = [self.runs[i].model(data.x[:2], target=data.y[:2])[0] for i, data in zip(indices, samples)]
        except NotMemberAware as exc:
            return str(exc)
        except Exception as exc:  # an operation that does not take a member dimension
            return f"its forward pass does not run on stacked weights ({type(exc).__name__}: {str(exc)[:120]})"
        tolerance = 1e-9 if x.dtype == torch.float64 or batched[0].dtype == torch.float64 else 1e-4
        for b, o in zip(batched, own):
            if b.shape != o.shape or not torch.allclose(b, o, rtol=tolerance, atol=tolerance):
                return (
                    "its forward pass on stacked weights differs from the members' own (an operation is "
                    "not member-aware)"
                )
        return None

    def forward(self, indices: list[int], x: Tensor, y: Tensor) -> Tensor:
        """The prediction of members `indices` for their batches concatenated (member-major)."""
        weights = {name: stacked([self.weights[i][own] for i in indices]) for name, own in self.names.items()}
        return functional_call(self.template, weights, (x,), {"target": y})[0]

    def train(self) -> dict[int, dict | Exception]:
        """Open every member's record, step them together until each has stopped, finish each."""
        outcomes: dict[int, dict | Exception] = {}
        active: list[int] = []
        count = len(self.runs)
        tags = member_tags(list(self.runs.values()))
        for k, (i, run) in enumerate(self.runs.items()):
            run.summary.members, run.summary.member = count, k
            run.log = MemberLog(log, {"member": tags[k]})
            try:
                run.open(self.files[i])
                active.append(i)
            except Exception as exc:
                run.fail(exc)
                outcomes[i] = exc
        if not active:
            return outcomes
        first = self.runs[active[0]]
        log.info("%d members of %s on %s as one batched run", len(active), first.summary.model, first.task.name)
        total = max(self.runs[i].settings.max_steps - self.runs[i].loop.step for i in active)
        with (
            logging_redirect_tqdm(),
            first.progress_bar(total, f"{first.summary.model}/{first.task.name} ×{len(active)}") as bar,
        ):
            for i in active:
                self.runs[i].model.train()
            while active:
                try:
                    failures = self.step(active)
                except Exception as exc:  # the shared pass: every member still training fails with it
                    for i in active:
                        self.runs[i].fail(exc)
                        outcomes[i] = exc
                    return outcomes
                for i, failure in zip(list(active), failures):
                    run = self.runs[i]
                    try:
                        failure = run.after_step(failure)
                        if failure or run.loop.stop_reason:
                            run.finish(failure)
                            outcomes[i] = run.summary.to_dict()
                            active.remove(i)
                    except Exception as exc:
                        run.fail(exc)
                        outcomes[i] = exc
                        active.remove(i)
                bar.update(1)
        return outcomes

    def step(self, active: list[int]) -> list[str | None]:
        """One optimizer step of every active member; returns each one's failure (or None)."""
        started = time.perf_counter()
        batches = [self.runs[i].next_batch() for i in active]
        data_s = time.perf_counter() - started
        x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
        first = self.runs[active[0]]
        saved = SavedTensors(p for i in active for p in self.weights[i].values()) if first.loop.memory is None else None
        with saved.counting() if saved else contextlib.nullcontext():
            predictions = self.forward(active, x, y).split([len(b[1]) for b in batches])
            losses = [self.runs[i].task.loss(p, b[1]) for i, p, b in zip(active, predictions, batches)]
        for i in active:
            self.runs[i].loop.optimizer.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        share = saved.bytes // len(active) if saved else None  # each member's part of the activations
        return [self.runs[i].update(loss.item(), None, share, data_s, started) for i, loss in zip(active, losses)]

    def check_memory(self) -> None:
        """Refuse, in one line, members whose batched training step would not fit in memory."""
        active = list(self.runs)
        run = self.runs[active[0]]
        train = run.task.splits()["train"]
        k = len(active)

        def probe_loss(n: int) -> Tensor:  # every member on the first n training samples
            y = torch.cat([train.y[:n]] * k)
            return run.task.loss(self.forward(active, torch.cat([train.x[:n]] * k), y), y)

        check_fits(
            self.template,
            probe_loss,
            run.settings.batch_size,
            run.settings.device,
            f"{k} batched members of batch {run.settings.batch_size}",
            advice="lower hydra.launcher.max_members, or run them one after another (hydra.launcher.batching=never)",
        )


def template_of(run: Run) -> nn.Module:
    """The model that computes the members at once: theirs, with impl=compiled (else reference)
    where they run a fused torch.nn kernel (no member dimension there). Built without touching
    torch's RNG."""
    model_cfg = OmegaConf.create(run.config["model"])
    fused = any(isinstance(m, Recurrent) and m.impl == "fused" for m in run.model.modules())

    def build(impl: str | None) -> nn.Module:
        cfg = OmegaConf.merge(model_cfg, {"impl": impl}) if impl else model_cfg
        return build_model(cfg, run.task).to(run.settings.device)

    with torch.random.fork_rng(devices=[]):
        if not fused:
            template = build(None)
        else:
            try:
                template = build("compiled")
            except ConfigError:  # no compiled loop here (no compiler; a cell without one)
                template = build("reference")
    return template.to(next(run.model.parameters()).dtype)
