r"""The LSTM over a whole sequence, with a derivative shaped like cuDNN's, for every option.

Autodiff of `lax.scan` would compute the weight gradients one small step at a time inside
the backward loop. Here a `jax.custom_jvp` gives the tangent as a linear loop that carries
only :math:`(\dot h, \dot c)`; every term that involves a weight tangent is one large
matrix product over all steps, outside the loop:

.. math::

    \dot z^{ext}_t &= \dot x_t W_{ih}^T + [x_t, h^{in}_t] [\dot W_{ih}, \dot W_{hh}]^T
        + \dot b, \qquad
    \dot z_t = \dot z^{ext}_t + \dot h^{in}_{t} W_{hh}^T \\
    \dot c_t &= f_t \dot c_{t-1} + \textstyle\sum_{k \in i,f,g} p_{k,t} \dot z_{k,t},
    \qquad \dot r_t = q_t \dot c_t + p_{o,t} \dot z_{o,t}, \qquad
    \dot h_t = \dot r_t W_{hr}^T + r_t \dot W_{hr}^T

with :math:`p_t = [g i (1-i),\; c_{t-1} f (1-f),\; i (1-g^2),\; \tanh c_t\, o (1-o)]`,
:math:`q_t = o (1 - \tanh^2 c_t)` and :math:`f_t` saved by the forward pass, and
:math:`h^{in}_t` the `h` that enters :math:`W_{hh}` at step `t`. Resets, skipped steps,
zoneout and recurrent dropout act on the tangent exactly as on the state. JAX transposes
this loop for reverse mode: the backward loop is the same recurrence run backwards, and
the weight and input gradients are the transposes of the hoisted products, each one GEMM.
Forward mode (`jax.jvp`, `jax.jacfwd`, `jax.hessian`) uses the rule as it is.

Arrays are time-major, in processing order (see `jlstm._steps`), any batch dims.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlstm import _cell as cell
from jlstm._dropout import zone
from jlstm._engine import steps
from jlstm._types import LSTMParams
from jlstm._weights import bias_row, matmul, prepare

Pair = tuple[jax.Array, jax.Array]  # (h, c) or their tangents (dh, dc)


class Config(NamedTuple):
    """What decides the traced program (hashable)."""

    dtype: Any  # compute dtype of the products, or None
    zoneout_h: float  # rates, for the expectation when no zoneout masks are given
    zoneout_c: float
    unroll: int | bool


class Inputs(NamedTuple):
    """What the loop reads besides the weights and the initial state; None: not used."""

    xs: jax.Array  # (time, *batch, input_size): zero where a step is not read
    update: jax.Array | None  # (time, *batch) bool: the step is read
    valid: jax.Array | None  # (time, *batch) bool: not padding
    reset: jax.Array | None  # (time, *batch) bool: reset to the initial state before it
    recurrent_mask: jax.Array | None  # (*batch, out_size): dropout of the h entering W_hh
    zoneout_h: jax.Array | None  # (time, *batch, out_size) bool: keep the previous h
    zoneout_c: jax.Array | None  # (time, *batch, hidden_size) bool: keep the previous c


class Saved(NamedTuple):
    """Per-step factors of the tangent, from the forward pass (see the module docstring)."""

    p: jax.Array  # (time, *batch, 4*hidden_size)
    q: jax.Array  # (time, *batch, hidden_size)
    f: jax.Array  # (time, *batch, hidden_size)
    r: jax.Array | None  # (time, *batch, hidden_size): o tanh(c'), with a projection only


def _forward(
    config: Config, params: LSTMParams, h0: jax.Array, c0: jax.Array, inputs: Inputs, keep: bool
) -> tuple[Pair, Any]:
    """The forward loop: `((h, c), ys)`, with `keep` `((h, c), (ys, Saved))`."""
    weights = cell.cast_weights(prepare(params), config.dtype)

    def body(carry: Pair, step: tuple) -> tuple[Pair, Any]:
        h, c = carry
        x, update, reset, zone_h, zone_c = step
        if reset is not None:
            h, c = steps.select(reset, h0, h), steps.select(reset, c0, c)
        h_in = h if inputs.recurrent_mask is None else h * inputs.recurrent_mask
        a = cell.activations(weights, h_in, c, x)
        h_new = zone(h, cell.output(weights, a), config.zoneout_h, zone_h)
        c_new = zone(c, a.c, config.zoneout_c, zone_c)
        h_new, c_new = steps.select(update, (h_new, c_new), (h, c))
        if not keep:
            return (h_new, c_new), h_new
        p = jnp.concatenate(
            [
                a.g * a.i * (1 - a.i),
                c * a.f * (1 - a.f),
                a.i * (1 - a.g * a.g),
                a.tanh_c * a.o * (1 - a.o),
            ],
            -1,
        )
        q = a.o * (1 - a.tanh_c * a.tanh_c)
        r = None if params.weight_hr is None else a.o * a.tanh_c
        return (h_new, c_new), (h_new, Saved(p, q, a.f, r))

    per_step = (inputs.xs, inputs.update, inputs.reset, inputs.zoneout_h, inputs.zoneout_c)
    return jax.lax.scan(body, (h0, c0), per_step, unroll=config.unroll)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def lstm_kernel(
    config: Config, params: LSTMParams, h0: jax.Array, c0: jax.Array, inputs: Inputs
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Run the LSTM; returns `(h, c, ys)` with `ys` zero at padded steps.

    `params` holds the four core fields only (no variants).
    """
    (h, c), ys = _forward(config, params, h0, c0, inputs, keep=False)
    return h, c, steps.zero_where_not(inputs.valid, ys)


def _entering_h(ys: jax.Array, h0: jax.Array, inputs: Inputs) -> jax.Array:
    # The h that enters W_hh at each step: the one carried out of the step before (h0 at
    # the first step and after a reset), times the recurrent dropout mask.
    h_prev = jnp.concatenate([h0[None], ys])[:-1]
    if inputs.reset is not None:
        h_prev = steps.select(inputs.reset, h0[None], h_prev)
    return h_prev if inputs.recurrent_mask is None else h_prev * inputs.recurrent_mask[None]


def _external(
    params: LSTMParams,
    tangent: LSTMParams,
    inputs: Inputs,
    dxs: jax.Array,
    h_in: jax.Array,
    dtype: Any,
) -> jax.Array:
    # All tangent terms of z that do not go through the recurrence: three GEMMs for the
    # whole sequence, transposed by JAX into the input and weight gradients.
    state_dtype = h_in.dtype
    weight_ih = params.weight_ih if dtype is None else params.weight_ih.astype(dtype)
    dz = jnp.einsum(
        "...i,gi->...g", dxs.astype(weight_ih.dtype), weight_ih, preferred_element_type=state_dtype
    )
    xh = jnp.concatenate([inputs.xs.astype(state_dtype), h_in], axis=-1)
    d_weights = jnp.concatenate([tangent.weight_ih, tangent.weight_hh], axis=1)
    dz = dz + jnp.einsum("...k,gk->...g", xh, d_weights.astype(state_dtype))
    if tangent.bias is not None:
        dz = dz + bias_row(tangent.bias.astype(state_dtype), dz)
    return dz


def _tangent(
    config: Config,
    params: LSTMParams,
    dh0: jax.Array,
    dc0: jax.Array,
    inputs: Inputs,
    saved: Saved,
    dz_ext: jax.Array,
    dh_ext: jax.Array | None,
) -> tuple[Pair, jax.Array]:
    """The linear tangent loop: `((dh, dc), dys)` from the hoisted `dz_ext` (and `dh_ext`)."""
    weights = cell.cast_weights(prepare(params), config.dtype)
    state_dtype = dc0.dtype

    def body(carry: Pair, step: tuple) -> tuple[Pair, jax.Array]:
        dh, dc = carry
        dz_ext_t, p, q, f, dh_ext_t, update, reset, zone_h, zone_c = step
        if reset is not None:
            dh, dc = steps.select(reset, dh0, dh), steps.select(reset, dc0, dc)
        dh_in = dh if inputs.recurrent_mask is None else dh * inputs.recurrent_mask
        dz = (dz_ext_t + matmul(dh_in, weights.weight_hh_t, state_dtype)) * p
        dz_i, dz_f, dz_g, dz_o = jnp.split(dz, 4, axis=-1)
        dc_new = f * dc + (dz_i + dz_f + dz_g)
        dr = q * dc_new + dz_o
        dh_new = dr if dh_ext_t is None else matmul(dr, weights.weight_hr_t, state_dtype) + dh_ext_t
        dh_new = zone(dh, dh_new, config.zoneout_h, zone_h)
        dc_new = zone(dc, dc_new, config.zoneout_c, zone_c)
        dh_new, dc_new = steps.select(update, (dh_new, dc_new), (dh, dc))
        return (dh_new, dc_new), dh_new

    per_step = (
        dz_ext,
        saved.p,
        saved.q,
        saved.f,
        dh_ext,
        inputs.update,
        inputs.reset,
        inputs.zoneout_h,
        inputs.zoneout_c,
    )
    return jax.lax.scan(body, (dh0, dc0), per_step, unroll=config.unroll)


@lstm_kernel.defjvp
def _lstm_kernel_jvp(config: Config, primals: tuple, tangents: tuple) -> tuple[tuple, tuple]:
    params, h0, c0, inputs = primals
    d_params, dh0, dc0, d_inputs = tangents
    (h, c), (ys, saved) = _forward(config, params, h0, c0, inputs, keep=True)
    h_in = _entering_h(ys, h0, inputs)
    dz_ext = _external(params, d_params, inputs, d_inputs.xs, h_in, config.dtype)
    dh_ext = None
    if params.weight_hr is not None:  # r_t W_hr'^T, the projection's own tangent
        dh_ext = jnp.einsum("...h,ph->...p", saved.r, d_params.weight_hr.astype(h.dtype))
    (dh, dc), dys = _tangent(config, params, dh0, dc0, inputs, saved, dz_ext, dh_ext)
    valid = inputs.valid
    primal_out = (h, c, steps.zero_where_not(valid, ys))
    return primal_out, (dh, dc, steps.zero_where_not(valid, dys))
