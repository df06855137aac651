"""A whole sequence: `lstm_cell` stepped over time with `jax.lax.scan`."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from jlstm import _checkify as runtime
from jlstm import _checks as check
from jlstm import _dropout as dropout
from jlstm import _general as general
from jlstm import _kernel as kernel
from jlstm import _steps as steps
from jlstm import _variants as variants
from jlstm._errors import LSTMTypeError, fail
from jlstm._params import LSTMParams, LSTMState
from jlstm._scan import checked_flags, run_cell, to_layout
from jlstm._variants import GateTrace

__all__ = ["lstm"]


def _layout_hint(time_major: bool, xs: jax.Array, batch_shape: tuple[int, ...]) -> str | None:
    # A batch shape that fits xs read in the other layout is a time/batch mix-up.
    other = tuple(xs.shape[:-2] if time_major else xs.shape[1:-1])
    current = tuple(xs.shape[1:-1] if time_major else xs.shape[:-2])
    if tuple(batch_shape) == other != current:
        return f"Its batch shape {other} fits xs read with time_major={not time_major}."
    return None


def _state_hint(time_major: bool, xs: jax.Array, state: Any) -> str | None:
    h = getattr(state, "h", None)
    if not hasattr(h, "shape"):
        return None
    batch_shape = tuple(xs.shape[1:-1] if time_major else xs.shape[:-2])
    if h.ndim == 1 and batch_shape:
        return (
            "To start every sequence from one state, broadcast it: jax.tree.map(lambda a: "
            f"jnp.broadcast_to(a, {batch_shape} + a.shape), state)."
        )
    return _layout_hint(time_major, xs, tuple(h.shape[:-1]))


def _saturate_infinities(xs: jax.Array, params: LSTMParams, dtype: Any) -> jax.Array:
    # inf * 0 is NaN: in W_ih x where a weight is 0, and in the weight gradient
    # dW_ih = dz^T x where a saturated gate has dz = 0. A finite stand-in of the same sign
    # saturates the same gates without either; this bound keeps |W_ih x| below half the
    # largest float whatever the number of infinite features.
    dtypes = [xs.dtype, params.weight_ih.dtype] + ([] if dtype is None else [dtype])
    largest = min(float(jnp.finfo(d).max) for d in dtypes)
    if params.layer_norm is not None:  # LN(W_ih x) sums squares; it is blind to the scale
        largest = math.sqrt(largest / (16 * params.weight_ih.shape[0]))
    scale = jnp.max(jnp.abs(params.weight_ih), initial=1.0)
    bound = jax.lax.stop_gradient(largest / (2 * xs.shape[-1] * scale)).astype(xs.dtype)
    return jnp.where(jnp.isinf(xs), jnp.copysign(bound, xs), xs)


def _zero_state(xs: jax.Array, hidden_size: int, out_size: int, dtype: Any) -> LSTMState:
    # Zeros shaped from time-major xs itself, so that they share its sharding and its
    # batch dims even when those are symbolic (`jax.export`); the sum is never computed.
    column = jnp.zeros_like(jnp.sum(xs[..., :1], axis=0), dtype=dtype)
    return LSTMState(
        h=jnp.broadcast_to(column, (*column.shape[:-1], out_size)),
        c=jnp.broadcast_to(column, (*column.shape[:-1], hidden_size)),
    )


def _rates(input_dropout: Any, recurrent_dropout: Any, zoneout_h: Any, zoneout_c: Any):
    return dropout.Rates(
        input=check.rate("lstm", "input_dropout", input_dropout),
        recurrent=check.rate("lstm", "recurrent_dropout", recurrent_dropout),
        zoneout_h=check.rate("lstm", "zoneout_h", zoneout_h),
        zoneout_c=check.rate("lstm", "zoneout_c", zoneout_c),
    )


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
    checks: bool = False,
) -> tuple[LSTMState, jax.Array | GateTrace]:
    """Run an LSTM layer over a sequence with `jax.lax.scan`.

    Params with variants (`jlstm.init_lstm(..., peephole=True, layer_norm=True,
    cifg=True)`) run those variants at every step.

    Args:
      params: an `LSTMParams`.
      xs: inputs of shape `(*batch, time, input_size)`, or `(time, *batch, input_size)` with
        `time_major=True`. Any number of batch dims, including none. A NaN at step `t` of
        one sequence reaches only that sequence's outputs and state from step `t` on. An
        infinite element is replaced by a finite one of its sign, large enough to
        saturate the gates it feeds and small enough that `W_ih x` cannot overflow
        (`max_float / (2 * input_size * max(1, max|W_ih|))`), so that outputs and
        gradients stay free of NaN. `checks=True` reports both.
      state: initial `LSTMState`; zeros when None.
      lengths: `(*batch,)` integers marking right-padded sequences. Outputs at padded steps
        are exactly 0 and the final state is the one after the last valid step (the initial
        state for length 0). Concrete lengths outside `[0, time]` raise; traced ones
        cannot, so they are clipped to that range (a negative length is an empty sequence,
        one above `time` a full one); `checks=True` reports them.
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
      checks: check the values that tracing cannot see, while the program runs: traced
        `lengths` outside `[0, time]`, and NaN or ±inf in `xs` at a step that is read.
        They are `jax.experimental.checkify` checks: run the function through
        `jlstm.checked` (or `checkify.checkify`). Off, the program holds none of them.

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
    input_size, hidden_size, out_size = check.params("lstm", params)
    dtype = check.compute_dtype("lstm", dtype)
    params_dtype = params.weight_ih.dtype
    layout = "(time, *batch, input_size)" if time_major else "(*batch, time, input_size)"
    xs = check.inputs("lstm", "xs", xs, layout, input_size, params_dtype, dtype)
    options = {"reverse": reverse, "time_major": time_major, "remat": remat, "checks": checks}
    options["return_gates"] = return_gates
    for name, value in options.items():
        check.flag("lstm", name, value)
    _check_unroll(unroll)
    time = xs.shape[0] if time_major else xs.shape[-2]
    batch_shape = tuple(xs.shape[1:-1] if time_major else xs.shape[:-2])
    if state is not None:
        hint = _state_hint(time_major, xs, state)
        check.state("lstm", state, batch_shape, hidden_size, out_size, params_dtype, hint)
    hint = _layout_hint(time_major, xs, getattr(lengths, "shape", ()))
    flags = checked_flags(
        "lstm",
        time,
        batch_shape,
        lengths,
        mask,
        resets,
        reverse,
        time_major,
        hint=hint,
        run_time=checks,
    )
    rates = _rates(input_dropout, recurrent_dropout, zoneout_h, zoneout_c)
    if key is not None:
        check.prng_key("lstm", key)
    if checks:  # the steps that are read, in the layout of xs
        read = steps.flip(flags.update, reverse)
        read = read if read is None or time_major else jnp.moveaxis(read, 0, -1)
        runtime.finite_steps("lstm", "xs", xs, read)
    xs = xs if time_major else jnp.moveaxis(xs, -2, 0)
    if state is None:
        state = _zero_state(xs, hidden_size, out_size, params_dtype)
    state = steps.varying_like(steps.sharded_like(state, xs), xs, params)
    noise = dropout.draw(
        key, rates, time, batch_shape, (input_size, hidden_size, out_size), params_dtype
    )
    xs = _saturate_infinities(xs, params, dtype)
    if noise.input_mask is not None:  # one mask for the whole sequence
        xs = xs * noise.input_mask[None].astype(xs.dtype)
    xs, zone_h, zone_c = steps.flip((xs, noise.zoneout_h, noise.zoneout_c), reverse)
    if return_gates or remat or variants.has_variants(params):
        cell = general.noisy_cell(params, dtype, rates, noise.recurrent_mask, return_gates)
        first = general.initial_output(state, return_gates)
        state, ys = run_cell(
            cell,
            None,
            (xs, zone_h, zone_c),
            state,
            flags,
            first,
            unroll=unroll,
            remat=remat,
            read_out=general.read_out,
        )
    else:
        config = kernel.Config(dtype, rates.zoneout_h, rates.zoneout_c, unroll)
        inputs = kernel.Inputs(
            steps.zero_where_not(flags.update, xs),
            flags.update,
            flags.valid,
            flags.reset,
            noise.recurrent_mask,
            zone_h,
            zone_c,
        )
        h, c, ys = kernel.lstm_kernel(config, params, state.h, state.c, inputs)
        state = LSTMState(h, c)
    ys = to_layout(steps.flip(ys, reverse), len(batch_shape), time_major)
    if return_gates and flags.masked:  # the gates of a masked step are 0
        read = to_layout(steps.flip(flags.update, reverse), len(batch_shape), time_major)
        ys = ys._replace(**steps.zero_where_not(read, {k: getattr(ys, k) for k in "ifgo"}))
    if dtype is None:
        return state, ys
    return state, ys._replace(h=ys.h.astype(dtype)) if return_gates else ys.astype(dtype)
