"""The general path of `jlstm.lstm`: padding, masks, resets, noise, variants and gate traces.

`jlstm.lstm` takes this path whenever any of these is asked for; the plain path stays a
bare scan of the cell equations. Arrays here are time-major: `(time, *batch, ...)`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlstm import _dropout as dropout
from jlstm import _variants as variants
from jlstm._cell import CellWeights, cast_weights, prepare, step
from jlstm._params import LSTMParams, LSTMState
from jlstm._variants import GateTrace

Cell = Callable[[LSTMState, jax.Array], tuple[LSTMState, Any]]


class StepInputs(NamedTuple):
    """What the scan feeds each step; parts that are not asked for are None."""

    x: jax.Array  # (*batch, input_size)
    t: jax.Array | None  # () int32 index of the step, to compare with `lengths`
    keep: jax.Array | None  # (*batch,) bool: False where `mask` skips the step
    reset: jax.Array | None  # (*batch,) bool: reset to the initial state before the step
    zoneout_h: jax.Array | None  # (*batch, out_size) bool: keep the previous h
    zoneout_c: jax.Array | None  # (*batch, hidden_size) bool: keep the previous c


# The cells cast the weights to the compute dtype inside the loop (see `cast_weights`).
def _plain_cell(
    weights: CellWeights, dtype: Any, state: LSTMState, x: jax.Array
) -> tuple[LSTMState, jax.Array]:
    return step(cast_weights(weights, dtype), state, x)


def _variant_cell(
    weights: variants.VariantWeights, dtype: Any, state: LSTMState, x: jax.Array
) -> tuple[LSTMState, GateTrace]:
    weights = weights._replace(cell=cast_weights(weights.cell, dtype))
    return variants.step(weights, state, x)


def _where(condition: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


def _both(a: jax.Array | None, b: jax.Array | None) -> jax.Array | None:
    return b if a is None else a if b is None else a & b


def _segment_starts(resets: jax.Array, lengths: jax.Array | None, reverse: bool) -> jax.Array:
    # A flag at a padded step starts nothing. Run backwards, the segment that starts at a
    # flagged step t ends there, so the state is reset after step t, before step t - 1.
    if lengths is not None:
        steps = jnp.arange(resets.shape[0], dtype=jnp.int32)
        steps = steps.reshape((-1,) + (1,) * (resets.ndim - 1))
        resets = resets & (steps < lengths[None])
    if reverse:
        resets = jnp.concatenate([resets[1:], jnp.zeros_like(resets[:1])])
    return resets


def _body(
    cell: Cell,
    initial: LSTMState,
    lengths: jax.Array | None,
    noise: dropout.Noise,
    rates: dropout.Rates,
    return_gates: bool,
) -> Callable[[LSTMState, StepInputs], tuple[LSTMState, Any]]:
    def body(state: LSTMState, inputs: StepInputs) -> tuple[LSTMState, Any]:
        if inputs.reset is not None:
            state = _where(inputs.reset[..., None], initial, state)
        seen = state  # the recurrent dropout mask hides units of h from W_hh only
        if noise.recurrent_mask is not None:
            seen = state._replace(h=state.h * noise.recurrent_mask)
        valid = None if lengths is None else (inputs.t < lengths)[..., None]
        update = _both(valid, None if inputs.keep is None else inputs.keep[..., None])
        x = inputs.x
        if update is not None:  # so that NaN in padding cannot reach the weight gradients
            x = jnp.where(update, x, jnp.zeros_like(x))
        new, out = cell(seen, x)
        new = dropout.zoneout(state, new, rates, inputs.zoneout_h, inputs.zoneout_c)
        h = new.h
        if update is not None:  # skipped steps carry the state through
            new = _where(update, new, state)
        if inputs.keep is not None:  # a masked step outputs the carried h, as Keras does
            h = new.h
        if valid is not None:
            h = jnp.where(valid, h, jnp.zeros_like(h))
        if not return_gates:
            return new, h
        c = new.c if valid is None else jnp.where(valid, new.c, jnp.zeros_like(new.c))
        gates = [out.i, out.f, out.g, out.o]
        if update is not None:
            gates = [jnp.where(update, gate, jnp.zeros_like(gate)) for gate in gates]
        return new, GateTrace(h, c, *gates)

    return body


def run(
    params: LSTMParams,
    xs: jax.Array,
    state: LSTMState,
    *,
    lengths: jax.Array | None,
    mask: jax.Array | None,
    resets: jax.Array | None,
    reverse: bool,
    unroll: int | bool,
    remat: bool,
    dtype: Any,
    rates: dropout.Rates,
    key: jax.Array | None,
    return_gates: bool,
    sizes: tuple[int, int, int],
) -> tuple[LSTMState, jax.Array | GateTrace]:
    """Scan the cell over time-major `xs` with every option; outputs are time-major.

    Arguments are already checked: `lengths` `(*batch,)` int32, `mask` and `resets`
    `(time, *batch)` bool, `sizes` `(input_size, hidden_size, out_size)`.
    """
    time, batch_shape = xs.shape[0], tuple(xs.shape[1:-1])
    cell: Cell
    if return_gates or variants.has_variants(params):
        cell = functools.partial(_variant_cell, variants.prepare_variants(params), dtype)
    else:
        cell = functools.partial(_plain_cell, prepare(params), dtype)
    noise = dropout.draw(key, rates, time, batch_shape, sizes, params.weight_ih.dtype)
    if noise.input_mask is not None:  # one mask for the whole sequence
        xs = xs * noise.input_mask[None].astype(xs.dtype)
    inputs = StepInputs(
        x=xs,
        t=None if lengths is None else jnp.arange(time, dtype=jnp.int32),
        keep=mask,
        reset=None if resets is None else _segment_starts(resets, lengths, reverse),
        zoneout_h=noise.zoneout_h,
        zoneout_c=noise.zoneout_c,
    )
    body = _body(cell, state, lengths, noise, rates, return_gates)
    if remat:
        body = jax.checkpoint(body, prevent_cse=False)
    return jax.lax.scan(body, state, inputs, reverse=reverse, unroll=unroll)
