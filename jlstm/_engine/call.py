"""One checked, prepared call of an LSTM layer, run by the kernel or by the generic runner.

`jlstm.lstm` is `finish(call, *run(call))` with `call = prepare(...)`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlstm import _dropout as dropout
from jlstm import _validation as check
from jlstm import _variants as variants
from jlstm._engine import generic as general
from jlstm._engine import kernel, steps
from jlstm._engine.remat import checkpointed_kernel
from jlstm._engine.scan import checked_flags, run_cell, to_layout
from jlstm._types import LSTMParams, LSTMState
from jlstm._validation import runtime


class Call(NamedTuple):
    """Everything one layer's loop reads, time-major and in time order."""

    params: LSTMParams
    state: LSTMState  # the initial state, (*batch, size)
    xs: jax.Array  # (time, *batch, input_size): saturated, input dropout applied
    flags: steps.StepFlags
    noise: dropout.Noise  # masks (the input mask already applied to xs: None)
    rates: dropout.Rates
    dtype: Any  # compute dtype or None
    unroll: int | bool
    remat: bool
    return_gates: bool
    reverse: bool
    time_major: bool
    batch_rank: int

    def on_kernel(self) -> bool:
        """Whether the LSTM kernel runs this call (else the generic runner).

        `remat` cuts the steps into chunks of their square root, which a symbolic number
        of steps (`jax.export`) does not have: it checkpoints each step instead.
        """
        unchunked = self.remat and not isinstance(self.xs.shape[0], int)
        return not (self.return_gates or variants.has_variants(self.params) or unchunked)


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


NOISE_ARGS = ("input_dropout", "recurrent_dropout", "zoneout_h", "zoneout_c")


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


def _rates(
    input_dropout: Any, recurrent_dropout: Any, zoneout_h: Any, zoneout_c: Any
) -> dropout.Rates:
    return dropout.Rates(
        input=check.rate("lstm", "input_dropout", input_dropout),
        recurrent=check.rate("lstm", "recurrent_dropout", recurrent_dropout),
        zoneout_h=check.rate("lstm", "zoneout_h", zoneout_h),
        zoneout_c=check.rate("lstm", "zoneout_c", zoneout_c),
    )


def prepare(
    params: LSTMParams,
    xs: Any,
    state: LSTMState | None,
    *,
    lengths: Any,
    mask: Any,
    resets: Any,
    reverse: bool,
    time_major: bool,
    unroll: int | bool,
    remat: bool,
    dtype: Any,
    input_dropout: float,
    recurrent_dropout: float,
    zoneout_h: float,
    zoneout_c: float,
    key: jax.Array | None,
    deterministic: bool,
    return_gates: bool,
    checks: bool,
) -> Call:
    """Check every argument of `jlstm.lstm` (raising at trace time) and lay out the loop."""
    input_size, hidden_size, out_size = check.params("lstm", params)
    dtype = check.compute_dtype("lstm", dtype)
    params_dtype = params.weight_ih.dtype
    layout = "(time, *batch, input_size)" if time_major else "(*batch, time, input_size)"
    xs = check.inputs("lstm", "xs", xs, layout, input_size, params_dtype, dtype)
    flags = {"reverse": reverse, "time_major": time_major, "remat": remat, "checks": checks}
    for name, value in dict(flags, return_gates=return_gates).items():
        check.flag("lstm", name, value)
    check.unroll("lstm", unroll)
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
    check.noise_key("lstm", key, deterministic, dict(zip(NOISE_ARGS, rates, strict=True)))
    if checks:  # the steps that are read, in the layout of xs
        read = None if flags.update is None else _in_layout(flags.update, time_major)
        runtime.finite_steps("lstm", "xs", xs, read)
    xs = xs if time_major else jnp.moveaxis(xs, -2, 0)
    if state is None:
        state = _zero_state(xs, hidden_size, out_size, params_dtype)
    state = steps.varying_like(steps.sharded_like(state, xs), xs, params)
    sizes = (input_size, hidden_size, out_size)
    noise = dropout.draw(key, rates, time, batch_shape, sizes, params_dtype)
    xs = _saturate_infinities(xs, params, dtype)
    if noise.input_mask is not None:  # one mask for the whole sequence
        xs = xs * noise.input_mask[None].astype(xs.dtype)
    noise = noise._replace(input_mask=None)
    return Call(
        params,
        state,
        xs,
        flags,
        noise,
        rates,
        dtype,
        unroll,
        remat,
        return_gates,
        reverse,
        time_major,
        len(batch_shape),
    )


def _in_layout(read: jax.Array, time_major: bool) -> jax.Array:
    return read if time_major else jnp.moveaxis(read, 0, -1)


def _config(call: Call) -> kernel.Config:
    return kernel.Config(call.dtype, call.rates.zoneout_h, call.rates.zoneout_c, call.unroll)


def _lane(call: Call, flipped: bool) -> kernel.Lane:
    # `flipped`: the per-step inputs in processing order, for a loop run forwards.
    flags, noise, state = call.flags, call.noise, call.state
    inputs = kernel.Inputs(
        call.xs,
        flags.update,
        flags.valid,
        flags.reset,
        noise.recurrent_mask,
        noise.zoneout_h,
        noise.zoneout_c,
        None if flags.reset is None else (state.h, state.c),
    )
    if flipped:
        inputs = inputs._replace(**steps.flip(inputs.per_step(), True))
    return kernel.Lane(call.params, state.h, state.c, inputs)


def _run_kernel(calls: tuple[Call, ...]) -> list[tuple[LSTMState, jax.Array]]:
    # Calls with one kernel configuration, as the lanes of one loop. The loop runs in their
    # direction when they share one; else forwards, the reversed lanes' inputs flipped.
    reverse = {call.reverse for call in calls} == {True}
    flipped = [call.reverse and not reverse for call in calls]
    config = _config(calls[0])._replace(reverse=reverse)
    run_kernel = checkpointed_kernel if calls[0].remat else kernel.lstm_kernel
    out = run_kernel(config, tuple(map(_lane, calls, flipped)))
    return [
        (LSTMState(h, c), steps.flip(ys, f)) for (h, c, ys), f in zip(out, flipped, strict=True)
    ]


def run(call: Call) -> tuple[LSTMState, Any]:
    """Run the loop of a prepared call; outputs time-major, in time order."""
    if call.on_kernel():
        return _run_kernel((call,))[0]
    cell = general.noisy_cell(
        call.params, call.dtype, call.rates, call.noise.recurrent_mask, call.return_gates
    )
    per_step = steps.flip((call.xs, call.noise.zoneout_h, call.noise.zoneout_c), call.reverse)
    first = general.initial_output(call.state, call.return_gates)
    final, ys = run_cell(
        cell,
        None,
        per_step,
        call.state,
        steps.in_processing_order(call.flags, call.reverse),
        first,
        unroll=call.unroll,
        remat=call.remat,
        read_out=general.read_out,
    )
    return final, steps.flip(ys, call.reverse)


def run_together(calls: tuple[Call, ...]) -> list[tuple[LSTMState, Any]]:
    """Run prepared calls over the same steps: in one loop when the kernel runs them all.

    That is when none has variants or `return_gates` and they share the compute dtype,
    the zoneout rates, `unroll` and `remat`, as the two directions of a layer do.
    """
    shared = {(_config(call), call.remat) for call in calls}
    if len(shared) == 1 and all(call.on_kernel() for call in calls):
        return _run_kernel(calls)
    return [run(call) for call in calls]


def finish(call: Call, state: LSTMState, ys: Any) -> tuple[LSTMState, Any]:
    """The outputs in the caller's layout and compute dtype (gates of masked steps 0)."""
    ys = to_layout(ys, call.batch_rank, call.time_major)
    if call.return_gates and call.flags.masked:
        read = to_layout(call.flags.update, call.batch_rank, call.time_major)
        ys = ys._replace(**steps.zero_where_not(read, {k: getattr(ys, k) for k in "ifgo"}))
    if call.dtype is None:
        return state, ys
    if call.return_gates:
        return state, ys._replace(h=ys.h.astype(call.dtype))
    return state, ys.astype(call.dtype)
