"""Truncated backpropagation through time over long streams (Williams & Peng, 1990).

A stream of `T_total` steps is cut into chunks of `chunk_size` steps. The recurrent state
flows forward across chunk boundaries but gradients stop there, and the optimizer updates
the params after every chunk, so memory is bounded by one chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jlstm._public import public
from jlstm._validation import flag, function, size
from jlstm._validation import training as checks
from jlstm.train._state import TrainState
from jlstm.train._step import update

__all__ = ["make_tbptt_step"]

TBPTTStep = Callable[..., tuple[TrainState, tuple[jax.Array, Any]]]


def _chunks(x: jax.Array, axis: int, count: int, chunk_size: int) -> jax.Array:
    # (..., count * chunk_size, ...) -> (count, ..., chunk_size, ...): scan over the chunks.
    x = jax.lax.slice_in_dim(x, 0, count * chunk_size, axis=axis)
    x = x.reshape((*x.shape[:axis], count, chunk_size, *x.shape[axis + 1 :]))
    return jnp.moveaxis(x, axis, 0)


@public("jlstm.train")
def make_tbptt_step(
    loss_fn: Callable[..., tuple[jax.Array, tuple[Any, Any]]],
    optimizer: optax.GradientTransformation,
    chunk_size: int,
    *,
    init_carry: Callable[[Any, Any], Any],
    time_major: bool = False,
    donate: bool = True,
) -> TBPTTStep:
    """A jitted step that trains on a long stream chunk by chunk (truncated BPTT).

    For each chunk of `chunk_size` steps, in order, the step computes the gradient of
    `loss_fn` on that chunk alone, starting from the carry that the previous chunk left
    (passed through `jax.lax.stop_gradient`), and applies one optimizer update. A last
    shorter chunk takes the steps that do not fill a whole one. With
    `chunk_size >= T_total` it is one full-BPTT update on the whole stream.

    Args:
      loss_fn: `loss_fn(params, carry, chunk, key) -> (loss, (carry, aux))`: the loss of
        one chunk started from `carry` (e.g. an `LSTMState`), and the carry at its end.
        `chunk` is `stream` with its time axis cut to the chunk.
      optimizer: an `optax.GradientTransformation`.
      chunk_size: steps per chunk, the truncation length `k`.
      init_carry: `init_carry(params, stream) -> carry`, the carry at the start of a
        stream when none is passed, e.g. `jlstm.zero_state(params, stream[0].shape[:1])`.
      time_major: whether every array of the stream is `(T_total, batch, ...)`; by default
        it is `(batch, T_total, ...)`, as in `jlstm.lstm`. (Renamed from `time_axis=`.)
      donate: donate the input state and carry buffers (see `make_train_step`).

    Returns:
      `step(state, stream, carry=None) -> (state, (losses, (carry, aux)))`, jitted: one
      update per chunk; `losses` is `(num_chunks,)`, `aux` is stacked over chunks and
      `carry` is the state at the end of the stream, to continue with the next stream.
      `fit` accepts it like any step; each call then makes `num_chunks` updates.

    Example:
      >>> import jax, jax.numpy as jnp, optax, jlstm
      >>> from jlstm import train
      >>> def loss_fn(params, carry, chunk, key):
      ...     xs, targets = chunk  # (batch, k, 3), (batch, k, 2)
      ...     carry, hs = jlstm.lstm(params, xs, carry)
      ...     return jnp.mean((hs - targets) ** 2), (carry, None)
      >>> def init_carry(params, stream):
      ...     return jlstm.zero_state(params, stream[0].shape[:1])
      >>> optimizer = optax.adam(1e-2)
      >>> params = jlstm.init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
      >>> state = train.init_train_state(params, optimizer, key=jax.random.key(1))
      >>> step = train.make_tbptt_step(loss_fn, optimizer, 8, init_carry=init_carry)
      >>> stream = (jnp.ones((4, 20, 3)), jnp.zeros((4, 20, 2)))  # chunks of 8, 8, 4
      >>> state, (losses, (carry, _)) = step(state, stream)
      >>> int(state.step), losses.shape, carry.h.shape
      (3, (3,), (4, 2))
    """
    fn = "train.make_tbptt_step"
    function(fn, "loss_fn", loss_fn, "loss_fn(params, carry, chunk, key)")
    checks.optimizer(fn, optimizer)
    size(fn, "chunk_size", chunk_size)
    function(fn, "init_carry", init_carry, "init_carry(params, stream) -> carry")
    flag(fn, "time_major", time_major)
    flag(fn, "donate", donate)
    time_axis = 0 if time_major else 1
    checked = checks.checked_loss(fn, loss_fn)

    def chunk_update(
        state: TrainState, carry: Any, chunk: Any
    ) -> tuple[TrainState, Any, jax.Array, Any]:
        # The truncation: no gradient reaches back into earlier chunks, even when the whole
        # step is differentiated or the carry was computed from the params.
        carry = jax.tree.map(jax.lax.stop_gradient, carry)
        state, (loss, (carry, aux)) = update(checked, optimizer, state, carry, chunk)
        return state, carry, loss, aux

    def scan_body(
        state_carry: tuple[TrainState, Any], chunk: Any
    ) -> tuple[tuple[TrainState, Any], tuple[jax.Array, Any]]:
        state, carry, loss, aux = chunk_update(*state_carry, chunk)
        return (state, carry), (loss, aux)

    def step(
        state: TrainState, stream: Any, carry: Any = None
    ) -> tuple[TrainState, tuple[jax.Array, Any]]:
        checks.train_state(fn, state, TrainState)
        time = checks.stream_time(fn, stream, time_axis)
        if carry is None:
            carry = init_carry(state.params, stream)
        length = min(chunk_size, time)
        count, rest = divmod(time, length)
        chunks = jax.tree.map(lambda x: _chunks(x, time_axis, count, length), stream)
        (state, carry), (losses, aux) = jax.lax.scan(scan_body, (state, carry), chunks)
        if rest:
            tail = jax.tree.map(
                lambda x: jax.lax.slice_in_dim(x, time - rest, time, axis=time_axis), stream
            )
            state, carry, loss, tail_aux = chunk_update(state, carry, tail)
            losses, aux = jax.tree.map(
                lambda head, last: jnp.concatenate([head, last[None]]),
                (losses, aux),
                (loss, tail_aux),
            )
        return state, (losses, (carry, aux))

    return jax.jit(step, donate_argnums=(0, 2) if donate else ())
