"""A whole sequence: `lstm_cell` stepped over time with `jax.lax.scan`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jlstm import _checks as checks
from jlstm._cell import CellWeights, prepare, step
from jlstm._errors import LSTMTypeError, fail
from jlstm._params import LSTMParams, LSTMState, zero_state

__all__ = ["lstm"]

Step = Callable[[LSTMState, Any], tuple[LSTMState, jax.Array]]


def _plain_step(weights: CellWeights) -> Step:
    def body(state: LSTMState, x: jax.Array) -> tuple[LSTMState, jax.Array]:
        return step(weights, state, x)

    return body


def _padded_step(weights: CellWeights, lengths: jax.Array) -> Step:
    # Steps at t >= lengths keep the state and emit exact zeros. Run in reverse, the same
    # rule skips the padding first and then walks the valid prefix backwards.
    def body(state: LSTMState, inputs: tuple[jax.Array, jax.Array]) -> tuple[LSTMState, jax.Array]:
        x, t = inputs
        new_state, h = step(weights, state, x)
        valid = (t < lengths)[..., None]
        kept = jax.tree.map(lambda new, old: jnp.where(valid, new, old), new_state, state)
        return kept, jnp.where(valid, h, jnp.zeros_like(h))

    return body


def _state_hint(time_major: bool, xs: jax.Array, state: LSTMState) -> str | None:
    other_batch = xs.shape[:-2] if time_major else xs.shape[1:-1]
    if tuple(state.h.shape[:-1]) == tuple(other_batch) != tuple(xs.shape[:-1])[:-1]:
        return f"Its batch shape fits xs read with time_major={not time_major}."
    return None


def _check_unroll(unroll: Any) -> None:
    if isinstance(unroll, bool):
        return
    if not isinstance(unroll, int):
        fail("lstm", "unroll", "an int >= 1 or a bool", repr(unroll), kind=LSTMTypeError)
    if unroll < 1:
        fail("lstm", "unroll", "an int >= 1 or a bool", unroll)


def lstm(
    params: LSTMParams,
    xs: jax.Array,
    state: LSTMState | None = None,
    *,
    lengths: jax.Array | None = None,
    reverse: bool = False,
    time_major: bool = False,
    unroll: int | bool = 1,
    remat: bool = False,
    dtype: Any = None,
) -> tuple[LSTMState, jax.Array]:
    """Run an LSTM layer over a sequence with `jax.lax.scan`.

    Args:
      params: an `LSTMParams`.
      xs: inputs of shape `(*batch, time, input_size)`, or `(time, *batch, input_size)` with
        `time_major=True`. Any number of batch dims, including none.
      state: initial `LSTMState`; zeros when None.
      lengths: `(*batch,)` integers marking right-padded sequences. Outputs at padded steps
        are exactly 0 and the final state is the one after the last valid step (the initial
        state for length 0). Concrete lengths outside `[0, time]` raise; traced ones are
        clipped to that range.
      reverse: run from the last step to the first; with `lengths`, only the valid prefix
        is reversed and the padding stays at the end. Outputs stay aligned with inputs.
      time_major: whether time is the leading axis of `xs` and of the outputs.
      unroll: steps per loop iteration of the scan (see `jax.lax.scan`).
      remat: recompute each step in the backward pass instead of storing its internals
        (`jax.checkpoint`): less memory, same gradients.
      dtype: compute dtype of the matrix products (e.g. `jnp.bfloat16`); the state keeps
        the params' dtype and the outputs come back in `dtype`. Without it, `xs` must have
        the params' dtype.

    Returns:
      `(final_state, ys)`: `ys` of shape `(*batch, time, out_size)` (or time-major).

    Example:
      >>> import jax, jax.numpy as jnp, jlstm
      >>> params = jlstm.init_lstm(jax.random.key(0), input_size=4, hidden_size=2)
      >>> xs = jnp.ones((3, 5, 4))  # (batch, time, input_size)
      >>> state, ys = jax.jit(jlstm.lstm)(params, xs)
      >>> ys.shape, state.h.shape, bool(jnp.all(ys[:, -1] == state.h))
      ((3, 5, 2), (3, 2), True)
    """
    input_size, hidden_size, out_size = checks.params("lstm", params)
    dtype = checks.compute_dtype("lstm", dtype)
    params_dtype = params.weight_ih.dtype
    layout = "(time, *batch, input_size)" if time_major else "(*batch, time, input_size)"
    checks.inputs("lstm", "xs", xs, layout, input_size, params_dtype, dtype)
    _check_unroll(unroll)
    time = xs.shape[0] if time_major else xs.shape[-2]
    batch_shape = tuple(xs.shape[1:-1] if time_major else xs.shape[:-2])
    if state is None:
        state = zero_state(params, batch_shape)
    else:
        hint = _state_hint(time_major, xs, state) if hasattr(state, "h") else None
        checks.state("lstm", state, batch_shape, hidden_size, out_size, params_dtype, hint)
    xs = xs if time_major else jnp.moveaxis(xs, -2, 0)
    weights = prepare(params, dtype)
    if lengths is None:
        body, scanned = _plain_step(weights), xs
    else:
        lengths = checks.lengths("lstm", lengths, batch_shape, time)
        body, scanned = _padded_step(weights, lengths), (xs, jnp.arange(time, dtype=jnp.int32))
    if remat:
        body = jax.checkpoint(body, prevent_cse=False)
    state, ys = jax.lax.scan(body, state, scanned, reverse=reverse, unroll=unroll)
    ys = ys if time_major else jnp.moveaxis(ys, 0, -2)
    return state, ys if dtype is None else ys.astype(dtype)
