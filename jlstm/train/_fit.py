"""`fit`: run a training step over batches, with evaluation, checkpoints and a progress bar."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from contextlib import contextmanager
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jlstm._public import public
from jlstm._validation import function
from jlstm._validation import training as checks
from jlstm.train import _processes as processes
from jlstm.train._checkpoint import Path, save_checkpoint
from jlstm.train._parallel import put, queue_limited, shard_batch
from jlstm.train._state import TrainState

__all__ = ["History", "fit"]

EvalFn = Callable[[TrainState], Mapping[str, Any]]
STATUS_EVERY = 10  # calls between loss updates of the progress bar (each one syncs)


@public("jlstm.train")
class History(NamedTuple):
    """What `fit` measured, as NumPy values on the host."""

    losses: np.ndarray  # (calls, *loss_shape): the loss returned by each call of `step`
    metrics: list[tuple[int, dict[str, Any]]]  # (state.step, eval_fn(state)) per evaluation
    steps_per_second: float  # calls of `step` per second, the first (compiling) call excluded


class _Clock:
    """Training time: from the end of the first call, without evaluations and checkpoints."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.paused = 0.0

    def begin(self, output: Any) -> None:
        jax.block_until_ready(output)
        self.start = time.perf_counter()

    @contextmanager
    def pause(self, state: TrainState) -> Iterator[None]:
        jax.block_until_ready(state)
        begin = time.perf_counter()
        yield
        self.paused += time.perf_counter() - begin

    def rate(self, calls: int, state: TrainState) -> float:
        jax.block_until_ready(state)
        if self.start is None or calls < 2:
            return math.nan
        return (calls - 1) / (time.perf_counter() - self.start - self.paused)


def _step_number(state: TrainState) -> int:
    return int(np.max(processes.to_host(state.step)))


def _own_copy(state: TrainState, mesh: Mesh | None) -> TrainState:
    # Steps donate their input state: train on a copy, so the caller's arrays stay valid.
    # Copy where the arrays are, then replicate: `jax.device_put` onto several devices
    # reuses the buffer already on one of them, even when asked not to alias.
    state = put(state, copy=True)
    if mesh is None:
        return state
    return put(state, NamedSharding(mesh, PartitionSpec()))


def _losses_to_host(losses: list[jax.Array]) -> np.ndarray:
    if losses and processes.spans_processes(losses[0]):
        return processes.to_host(jnp.stack(losses))
    return np.asarray(jax.device_get(losses))


def _evaluate(eval_fn: EvalFn, state: TrainState) -> tuple[int, dict[str, Any]]:
    result = eval_fn(state)
    checks.metrics("train.fit", result)
    values = {name: processes.to_host(value) for name, value in result.items()}
    metrics = {name: v.item() if v.ndim == 0 else v for name, v in values.items()}
    return _step_number(state), metrics


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        disable=not enabled,
    )


@public("jlstm.train")
def fit(
    step: Callable[[TrainState, Any], tuple[TrainState, tuple[jax.Array, Any]]],
    state: TrainState,
    batches: Iterable[Any],
    *,
    num_steps: int | None = None,
    eval_fn: EvalFn | None = None,
    eval_every: int | None = None,
    checkpoint_dir: Path | None = None,
    checkpoint_every: int | None = None,
    mesh: Mesh | None = None,
    progress: bool | None = None,
) -> tuple[TrainState, History]:
    """Train: call `step` on each batch, evaluate and checkpoint along the way.

    Losses stay on the device until the end, so steps are dispatched without waiting for
    each other (on several CPU devices at most two ahead: XLA's CPU collectives deadlock
    when more queue up); the progress bar fetches one every few steps.

    Args:
      step: `step(state, batch) -> (state, (loss, aux))`, from `make_train_step`,
        `make_tbptt_step` or `make_ensemble_step`.
      state: the `TrainState` to start from (fresh, or restored with `restore_checkpoint`).
        `fit` trains on a copy, so `state` and the arrays it was built from stay valid,
        even with a step that donates its input buffers.
      batches: an iterable of batches (a list, a generator, a data loader). To resume a run
        from a checkpoint, pass the batches from the restored step on. With several
        processes, each passes its own part of every global batch; all must pass as many
        batches, of the same shapes: a list's length is compared once, other iterables'
        batches one by one (a small gather per batch), and a mismatch raises on every
        process instead of hanging.
      num_steps: stop after this many calls of `step`; otherwise when `batches` ends.
      eval_fn: `eval_fn(state) -> dict of metrics`, run every `eval_every` calls and at the
        end, e.g. the loss on held-out data.
      eval_every: calls between evaluations; only at the end when None.
      checkpoint_dir: save the state there (`save_checkpoint`) every `checkpoint_every`
        calls and at the end.
      checkpoint_every: calls between checkpoints; only at the end when None.
      mesh: train data-parallel on this mesh (`data_mesh()`): the state is replicated and
        each batch sharded along its leading axis. The losses are those of one device up
        to float rounding. Leave it None for a step that places its inputs itself
        (`make_ensemble_step(..., mesh=...)`).
      progress: show a `rich` progress bar; by default only when the output is a terminal.

    Returns:
      `(state, history)`: the final state and a `History`.

    Example:
      >>> import jax, jax.numpy as jnp, optax, jlstm
      >>> from jlstm import train
      >>> def loss_fn(params, batch, key):
      ...     xs, targets = batch
      ...     state, _ = jlstm.lstm(params, xs)
      ...     return jnp.mean((state.h - targets) ** 2), None
      >>> optimizer = optax.adam(1e-2)
      >>> params = jlstm.init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
      >>> state = train.init_train_state(params, optimizer, key=jax.random.key(1))
      >>> batches = [(jnp.ones((4, 5, 3)), jnp.full((4, 2), 0.5))] * 20
      >>> evaluate = lambda state: {"weight_norm": jnp.linalg.norm(state.params.weight_ih)}
      >>> state, history = train.fit(
      ...     train.make_train_step(loss_fn, optimizer), state, batches,
      ...     eval_fn=evaluate, eval_every=10)
      >>> history.losses.shape, [step for step, _ in history.metrics]
      ((20,), [10, 20])
    """
    fn = "train.fit"
    function(fn, "step", step, "step(state, batch) -> (state, (loss, aux))")
    checks.train_state(fn, state, TrainState)
    checks.batches(fn, batches)
    checks.fit_options(
        fn,
        num_steps=num_steps,
        eval_fn=eval_fn,
        eval_every=eval_every,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        progress=progress,
    )
    if mesh is not None:
        checks.mesh(fn, mesh)
    total = num_steps if num_steps is not None or not isinstance(batches, Sized) else len(batches)
    state = _own_copy(state, mesh)
    spans, limited = processes.spans_processes(state), queue_limited(state)
    enabled = Console().is_terminal if progress is None else progress
    clock, losses, metrics = _Clock(), [], []
    evaluated = saved = -1
    with _progress_bar(enabled) as bar:
        task = bar.add_task("training", total=total, status="")
        agreed = processes.same_batches(fn, batches, num_steps, spans)
        for call, batch in enumerate(agreed, start=1):
            if mesh is not None:
                batch = shard_batch(batch, mesh)
            state, (loss, _) = step(state, batch)
            losses.append(loss)
            if limited and call > 1:
                jax.block_until_ready(losses[-2])
            if call == 1:
                clock.begin(loss)
            if eval_every is not None and call % eval_every == 0:
                with clock.pause(state):
                    metrics.append(_evaluate(eval_fn, state))
                    evaluated = call
            if checkpoint_every is not None and call % checkpoint_every == 0:
                with clock.pause(state):
                    save_checkpoint(checkpoint_dir, state)
                    saved = call
            bar.update(task, advance=1)
            if enabled and call % STATUS_EVERY == 0 and not processes.spans_processes(loss):
                bar.update(task, status=f"loss {np.mean(loss):.4g}")
        calls = len(losses)
        rate = clock.rate(calls, state)
        if eval_fn is not None and evaluated != calls:
            metrics.append(_evaluate(eval_fn, state))
        if checkpoint_dir is not None and saved != calls and calls:
            save_checkpoint(checkpoint_dir, state)
    history = History(_losses_to_host(losses), metrics, rate)
    return state, history
