"""A whole sequence: `lstm_cell` stepped over time with `jax.lax.scan`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jlstm import _checks as checks
from jlstm import _dropout as dropout
from jlstm import _general as general
from jlstm import _variants as variants
from jlstm._cell import CellWeights, prepare, step
from jlstm._errors import LSTMTypeError, fail
from jlstm._fused import fused_lstm
from jlstm._params import LSTMParams, LSTMState, zero_state
from jlstm._variants import GateTrace

__all__ = ["lstm"]

Step = Callable[[LSTMState, Any], tuple[LSTMState, jax.Array]]


def _plain_step(weights: CellWeights) -> Step:
    def body(state: LSTMState, x: jax.Array) -> tuple[LSTMState, jax.Array]:
        return step(weights, state, x)

    return body


def _fused(
    weights: CellWeights, state: LSTMState, xs: jax.Array, reverse: bool
) -> tuple[LSTMState, jax.Array]:
    if not reverse:
        return fused_lstm(weights, state, xs)
    state, ys = fused_lstm(weights, state, jnp.flip(xs, 0))
    return state, jnp.flip(ys, 0)


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


def _step_flags(value: Any, arg: str, shape: tuple[int, ...], time_major: bool) -> Any:
    # Checked in the layout of xs, then made time-major like everything inside the scan.
    if value is None:
        return None
    layout = "(time, *batch)" if time_major else "(*batch, time)"
    value = checks.step_flags("lstm", arg, value, shape, layout)
    return value if time_major else jnp.moveaxis(value, -1, 0)


def lstm(
    params: LSTMParams,
    xs: jax.Array,
    state: LSTMState | None = None,
    *,
    lengths: jax.Array | None = None,
    mask: jax.Array | None = None,
    resets: jax.Array | None = None,
    reverse: bool = False,
    time_major: bool = False,
    unroll: int | bool = 1,
    remat: bool = False,
    dtype: Any = None,
    input_dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    zoneout_h: float = 0.0,
    zoneout_c: float = 0.0,
    key: jax.Array | None = None,
    return_gates: bool = False,
    jvp: bool = False,
) -> tuple[LSTMState, jax.Array | GateTrace]:
    """Run an LSTM layer over a sequence with `jax.lax.scan`.

    Params with variants (`jlstm.init_lstm(..., peephole=True, layer_norm=True,
    cifg=True)`) run those variants at every step.

    Args:
      params: an `LSTMParams`.
      xs: inputs of shape `(*batch, time, input_size)`, or `(time, *batch, input_size)` with
        `time_major=True`. Any number of batch dims, including none.
      state: initial `LSTMState`; zeros when None.
      lengths: `(*batch,)` integers marking right-padded sequences. Outputs at padded steps
        are exactly 0 and the final state is the one after the last valid step (the initial
        state for length 0). Concrete lengths outside `[0, time]` raise; traced ones are
        clipped to that range.
      mask: `(*batch, time)` booleans (`(time, *batch)` with `time_major`), for left-padded
        or gapped data, with Keras' semantics: a step where `mask` is False carries the
        state through unchanged and outputs the previous output (the carried `h`).
        Combines with `lengths` (steps past a length still output 0).
      resets: `(*batch, time)` booleans (layout as `mask`); True at step t starts a new
        segment: the state is reset to the initial `state` before step t, like Haiku's
        `ResetCore`. With `reverse=True` each segment is run backwards from its own last
        step, so the same flags cut the same segments. A flag on a masked step still
        resets; flags past a sequence's length are ignored.
      reverse: run from the last step to the first; with `lengths`, only the valid prefix
        is reversed and the padding stays at the end. Outputs stay aligned with inputs.
      time_major: whether time is the leading axis of `xs` and of the outputs.
      unroll: steps per loop iteration of the scan (see `jax.lax.scan`).
      remat: recompute each step in the backward pass instead of storing its internals
        (`jax.checkpoint`): less memory, same gradients.
      dtype: compute dtype of the matrix products (e.g. `jnp.bfloat16`); the state keeps
        the params' dtype and the outputs come back in `dtype`. Without it, `xs` must have
        the params' dtype.
      input_dropout: variational dropout rate of the inputs (Gal & Ghahramani 2016; Keras'
        `dropout`): one mask per sequence, reused at every step, kept units scaled by
        `1 / (1 - rate)`. Needs `key`; without one it is off (evaluation).
      recurrent_dropout: the same on the `h` that enters `W_hh h` (Keras'
        `recurrent_dropout`); the carried state itself is not dropped.
      zoneout_h: zoneout rate of `h` (Krueger et al. 2017): with `key`, each unit keeps its
        previous value with this probability, afresh at every step; without a key, the
        expectation `rate * previous + (1 - rate) * new` (evaluation).
      zoneout_c: the same for the cell state `c`.
      key: PRNG key for the dropout and zoneout masks; None for a deterministic run.
      return_gates: return a `GateTrace` (outputs `h`, cell states `c` and gate
        activations `i, f, g, o`, each in the layout of `ys`) instead of `ys`.
      jvp: support forward-mode differentiation (`jax.jvp`, `jax.jacfwd`,
        `jax.hessian`). The plain layer (none of the options above) normally runs with a
        custom backward pass that does the weight gradients as single large matrix
        products after the loop; it is faster but reverse-mode only. `jvp=True` steps
        with `lax.scan` and lets JAX differentiate it instead. Numbers are the same.

    Returns:
      `(final_state, ys)`: `ys` of shape `(*batch, time, out_size)` (or time-major); or
      `(final_state, GateTrace)` with `return_gates=True`.

    Example:
      >>> import jax, jax.numpy as jnp, jlstm
      >>> params = jlstm.init_lstm(jax.random.key(0), input_size=4, hidden_size=2)
      >>> xs = jnp.ones((3, 5, 4))  # (batch, time, input_size)
      >>> state, ys = jax.jit(jlstm.lstm)(params, xs)
      >>> ys.shape, state.h.shape, bool(jnp.all(ys[:, -1] == state.h))
      ((3, 5, 2), (3, 2), True)
      >>> mask = jnp.array([[False, True, True, False, True]] * 3)  # skip steps 0 and 3
      >>> _, masked = jlstm.lstm(params, xs, mask=mask, key=jax.random.key(1), zoneout_c=0.1)
      >>> bool(jnp.all(masked[:, 0] == 0) and jnp.all(masked[:, 3] == masked[:, 2]))
      True
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
    flags_shape = (time, *batch_shape) if time_major else (*batch_shape, time)
    mask = _step_flags(mask, "mask", flags_shape, time_major)
    resets = _step_flags(resets, "resets", flags_shape, time_major)
    rates = dropout.Rates(
        input=checks.rate("lstm", "input_dropout", input_dropout),
        recurrent=checks.rate("lstm", "recurrent_dropout", recurrent_dropout),
        zoneout_h=checks.rate("lstm", "zoneout_h", zoneout_h),
        zoneout_c=checks.rate("lstm", "zoneout_c", zoneout_c),
    )
    if key is not None:
        checks.prng_key("lstm", key)
    checks.flag("lstm", "return_gates", return_gates)
    xs = xs if time_major else jnp.moveaxis(xs, -2, 0)
    plain = not (
        lengths is not None
        or mask is not None
        or resets is not None
        or rates.active(key)
        or return_gates
        or variants.has_variants(params)
    )
    checks.flag("lstm", "jvp", jvp)
    if plain and not (jvp or remat or dtype is not None or unroll != 1 or time == 0):
        state, ys = _fused(prepare(params), state, xs, reverse)
    elif plain:  # the cell equations and nothing else in the loop
        body = _plain_step(prepare(params, dtype))
        if remat:
            body = jax.checkpoint(body, prevent_cse=False)
        state, ys = jax.lax.scan(body, state, xs, reverse=reverse, unroll=unroll)
    else:
        if lengths is not None:
            lengths = checks.lengths("lstm", lengths, batch_shape, time)
        state, ys = general.run(
            params,
            xs,
            state,
            lengths=lengths,
            mask=mask,
            resets=resets,
            reverse=reverse,
            unroll=unroll,
            remat=remat,
            dtype=dtype,
            rates=rates,
            key=key,
            return_gates=return_gates,
            sizes=(input_size, hidden_size, out_size),
        )
    ys = ys if time_major else jax.tree.map(lambda y: jnp.moveaxis(y, 0, -2), ys)
    if dtype is None:
        return state, ys
    return state, ys._replace(h=ys.h.astype(dtype)) if return_gates else ys.astype(dtype)
