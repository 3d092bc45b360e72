"""Signals that end a cluster job, taken at the end of a training step (SLURM preemption, time limits).

A cluster warns a job before it stops it. Under submitit, SLURM sends SIGUSR2 `signal_delay_s`
before the time limit (`sbatch --signal=USR2@...`) and on `scancel --signal=USR2`, and SIGTERM
ahead of a preemption's kill. submitit's own handlers act at once: on SIGUSR2 it requeues the job
(`scontrol requeue`) and exits, on SIGTERM it logs and goes on. Acting in the middle of a step
would lose everything since the last validation's checkpoint. So while a run trains in a submitit
job, `deferred` puts a handler in their place that only notes the signal; the trainer, at the end
of the step under way (`Run.run_loop`), sees it `pending`, writes its checkpoint, and `deliver`s
the signal to the handler it replaced. The requeued job runs the same task function on the same
folder, which resumes from that checkpoint, and the resume is exact (checkpoint.py): the run ends
with the metrics of an uninterrupted run.

A signal that arrives while no step is under way (the start, the final evaluation) waits for the
next step boundary; one that arrives after the last step is dropped with a log line, since the
run finishes anyway. Outside a submitit job nothing is deferred (`job_signals` is empty).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("rnnbench")

_noted: list[tuple[int, Any]] = []  # (signal number, frame), in the order they arrived
_replaced: dict[int, Callable | int | None] = {}


def job_signals() -> tuple[int, ...]:
    """The signals to defer in this process: submitit's preemption signal (SUBMITIT_PREEMPT_SIGNAL,
    USR2 by default) and SIGTERM when this is a submitit job (it sets SUBMITIT_EXECUTOR), else none."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return ()
    preempt = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), signal.SIGUSR2)
    return tuple(dict.fromkeys((preempt, signal.SIGTERM)))


@contextlib.contextmanager
def deferred(signums: tuple[int, ...]) -> Iterator[None]:
    """While open, `signums` are noted rather than handled; on exit their handlers are put back and
    a signal still noted is dropped (the run has ended)."""

    def note(signum: int, frame: Any) -> None:
        _noted.append((signum, frame))

    for signum in signums:
        _replaced[signum] = signal.signal(signum, note)
    try:
        yield
    finally:
        for signum in signums:
            signal.signal(signum, _replaced.pop(signum))
        for signum, _ in _noted:
            log.info("%s arrived after training ended; the job finishes", signal.Signals(signum).name)
        _noted.clear()


def pending() -> bool:
    return bool(_noted)


def deliver() -> None:
    """Hand each noted signal to the handler it displaced, in order. submitit's requeue handler
    does not return (it raises SystemExit); a handler that returns lets training go on."""
    while _noted:
        signum, frame = _noted.pop(0)
        handler = _replaced.get(signum)
        log.warning("%s: checkpoint written, handing the job back to the scheduler", signal.Signals(signum).name)
        if callable(handler):
            handler(signum, frame)
        elif handler in (signal.SIG_DFL, None):
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
