r"""The LSTM over a whole sequence, with a derivative shaped like cuDNN's, for every option.

Autodiff of `lax.scan` would compute the weight gradients one small step at a time inside
the backward loop. Here a `jax.custom_jvp` gives the tangent as a linear loop that carries
only :math:`(\dot h, \dot c)`; every term that involves a weight tangent is a large
matrix product over many steps, outside the loop:

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
the weight and input gradients are the transposes of the hoisted products, one GEMM each
per chunk of steps (a long loop is cut into chunks to bound the derivative's memory).
Forward mode (`jax.jvp`, `jax.jacfwd`, `jax.hessian`) uses the rule as it is.

Arrays are time-major and in time order, with any batch dims; `Config.reverse` runs the
loops from the last step to the first (see `jlstm._engine.steps`). The kernel runs a tuple
of *lanes*, independent LSTMs over the same number of steps in the same direction: one
lane for a layer, two for a bidirectional one (whose backward lane reads its inputs
flipped). The lanes advance in the same step of the forward loop and of the tangent loop,
so also of the backward loop that JAX transposes from it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlstm import _cell as cell
from jlstm._dropout import zone
from jlstm._engine import steps
from jlstm._engine.chunks import in_chunks, tangent_chunk
from jlstm._types import LSTMParams
from jlstm._weights import bias_row, matmul_stored, prepare, stored_recurrent

Pair = tuple[jax.Array, jax.Array]  # (h, c) or their tangents (dh, dc)


class Config(NamedTuple):
    """What decides the traced program (hashable)."""

    dtype: Any  # compute dtype of the products, or None
    zoneout_h: float  # rates, for the expectation when no zoneout masks are given
    zoneout_c: float
    unroll: int | bool
    reverse: bool = False  # run from the last step to the first


class Inputs(NamedTuple):
    """What the loop reads besides the weights and the initial state; None: not used."""

    xs: jax.Array  # (time, *batch, input_size): read as zero where a step is not read
    update: jax.Array | None  # (time, *batch) bool: the step is read
    valid: jax.Array | None  # (time, *batch) bool: not padding
    reset: jax.Array | None  # (time, *batch) bool: restore `reset_state` before the step
    recurrent_mask: jax.Array | None  # (*batch, out_size): dropout of the h entering W_hh
    zoneout_h: jax.Array | None  # (time, *batch, out_size) bool: keep the previous h
    zoneout_c: jax.Array | None  # (time, *batch, hidden_size) bool: keep the previous c
    reset_state: Pair | None = None  # (h, c) that a reset restores; None without resets

    def per_step(self) -> dict[str, Any]:
        """The fields read once per step, in the order a loop step unpacks them."""
        names = ("xs", "update", "valid", "reset", "zoneout_h", "zoneout_c")
        return {name: getattr(self, name) for name in names}


class Lane(NamedTuple):
    """One LSTM of a kernel call: its params (four core fields only), initial state, inputs."""

    params: LSTMParams
    h0: jax.Array  # (*batch, out_size)
    c0: jax.Array  # (*batch, hidden_size)
    inputs: Inputs


class Saved(NamedTuple):
    """Per-step factors of the tangent, from the forward pass (see the module docstring)."""

    p: jax.Array  # (time, *batch, 4*hidden_size)
    q: jax.Array  # (time, *batch, hidden_size)
    f: jax.Array  # (time, *batch, hidden_size)
    r: jax.Array | None  # (time, *batch, hidden_size): o tanh(c'), with a projection only


class Sources(NamedTuple):
    """Per step, what one lane's hoisted tangent products read."""

    xs: jax.Array  # (time, *batch, input_size)
    update: jax.Array | None  # (time, *batch) bool: `Inputs.update`
    ys: jax.Array  # (time, *batch, out_size): the outputs, 0 at padded steps
    valid: jax.Array | None  # (time, *batch) bool: `Inputs.valid`
    reset: jax.Array | None  # (time, *batch) bool: `Inputs.reset`
    dxs: jax.Array  # (time, *batch, input_size): the tangent of xs
    r: jax.Array | None  # (time, *batch, hidden_size): o tanh(c'), with a projection only


def _forward_step(
    config: Config, weights: Any, inputs: Inputs, keep: bool, carry: Pair, step: tuple
) -> tuple[Pair, Any]:
    # One step of one lane: the new (h, c) and h (with `keep`, also the tangent factors).
    h, c = carry
    x, update, valid, reset, zone_h, zone_c = step
    x = steps.zero_where_not(update, x)  # finite factors where the step is not read
    if reset is not None:
        h, c = steps.select(reset, inputs.reset_state, (h, c))
    h_in = h if inputs.recurrent_mask is None else h * inputs.recurrent_mask
    a = cell.activations(weights, h_in, c, x)
    h_new = zone(h, cell.output(weights, a), config.zoneout_h, zone_h)
    c_new = zone(c, a.c, config.zoneout_c, zone_c)
    h_new, c_new = steps.select(update, (h_new, c_new), (h, c))
    y = steps.zero_where_not(valid, h_new)
    if not keep:
        return (h_new, c_new), y
    p_i, p_f, p_g = a.g * a.i * (1 - a.i), c * a.f * (1 - a.f), a.i * (1 - a.g * a.g)
    p = jnp.concatenate([p_i, p_f, p_g, a.tanh_c * a.o * (1 - a.o)], -1)
    q = a.o * (1 - a.tanh_c * a.tanh_c)
    r = None if weights.weight_hr_t is None else a.o * a.tanh_c
    return (h_new, c_new), (y, Saved(p, q, a.f, r))


def _in_lockstep(step_fn: Callable[..., tuple], lanes: tuple) -> Callable[..., tuple]:
    # A loop body that runs step_fn(lane, carry, step) for every lane.
    def body(carry: tuple, step: tuple) -> tuple[tuple, tuple]:
        out = [step_fn(*args) for args in zip(lanes, carry, step, strict=True)]
        return tuple(o[0] for o in out), tuple(o[1] for o in out)

    return body


def _forward(config: Config, lanes: tuple[Lane, ...], keep: bool) -> tuple[tuple, tuple]:
    """The forward loop: per lane `((h, c), ys)`, with `keep` `((h, c), (ys, Saved))`."""
    weights = tuple(cell.cast_weights(prepare(lane.params), config.dtype) for lane in lanes)

    def step(lane: tuple, carry: Pair, per_step: tuple) -> tuple[Pair, Any]:
        return _forward_step(config, *lane, keep, carry, per_step)

    inputs = tuple(lane.inputs for lane in lanes)
    body = _in_lockstep(step, tuple(zip(weights, inputs, strict=True)))
    per_step = tuple(tuple(i.per_step().values()) for i in inputs)
    carry = tuple((lane.h0, lane.c0) for lane in lanes)
    return jax.lax.scan(body, carry, per_step, unroll=config.unroll, reverse=config.reverse)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def lstm_kernel(config: Config, lanes: tuple[Lane, ...]) -> tuple[tuple, ...]:
    """Run every lane from its `(h0, c0)`; per lane `(h, c, ys)`, `ys` zero at padded steps."""
    finals, ys = _forward(config, lanes, keep=False)
    return tuple((h, c, y) for (h, c), y in zip(finals, ys, strict=True))


def _entering_h(lane: Lane, sources: Sources, before: tuple, reverse: bool) -> jax.Array:
    # The h that enters W_hh at each step of `sources`: the output of the step run before
    # (`before` holds the one before the first step run), or h0 after padding (padding
    # carries h0 but outputs 0); the reset state after a reset; times the dropout mask.
    inputs, h0 = lane.inputs, lane.h0

    def carried(ys: jax.Array, valid: jax.Array | None) -> jax.Array:
        return ys if valid is None else steps.select(valid, ys, h0)

    row, ys = carried(*before)[None], carried(sources.ys, sources.valid)
    h = jnp.concatenate([ys[1:], row] if reverse else [row, ys[:-1]])
    if sources.reset is not None:
        h = steps.select(sources.reset, inputs.reset_state[0][None], h)
    return h if inputs.recurrent_mask is None else h * inputs.recurrent_mask[None]


def _external(lane: Lane, tangent: Lane, sources: Sources, before: tuple, config: Config) -> tuple:
    # The tangent terms that do not go through the recurrence, for the steps of `sources`:
    # a few GEMMs per chunk of steps, transposed by JAX into the input and weight gradients.
    params, d_params, dtype = lane.params, tangent.params, config.dtype
    h_in = _entering_h(lane, sources, before, config.reverse)
    state_dtype = h_in.dtype
    weight_ih = params.weight_ih if dtype is None else params.weight_ih.astype(dtype)
    xs, dxs = steps.zero_where_not(sources.update, (sources.xs, sources.dxs))
    dxs = dxs.astype(weight_ih.dtype)
    dz = jnp.einsum("...i,gi->...g", dxs, weight_ih, preferred_element_type=state_dtype)
    xh = jnp.concatenate([xs.astype(state_dtype), h_in], axis=-1)
    d_weights = jnp.concatenate([d_params.weight_ih, d_params.weight_hh], axis=1)
    dz = dz + jnp.einsum("...k,gk->...g", xh, d_weights.astype(state_dtype))
    if d_params.bias is not None:
        dz = dz + bias_row(d_params.bias.astype(state_dtype), dz)
    if sources.r is None:
        return dz, None
    weight_hr = d_params.weight_hr.astype(state_dtype)  # r_t W_hr'^T, the projection's own
    return dz, jnp.einsum("...h,ph->...p", sources.r, weight_hr)


def _pick(flags: Pair | None, new: Pair, old: Pair) -> Pair:
    # `new` where the flags of its h and of its c are True, else `old`; all of `new` if None.
    if flags is None:
        return new
    return tuple(jnp.where(flag, a, b) for flag, a, b in zip(flags, new, old, strict=True))


def _tangent_step(
    config: Config, weights: Any, lane: Lane, tangent: Lane, carry: Pair, step: tuple
) -> tuple[Pair, jax.Array]:
    # One step of one lane's linear tangent loop. It computes nothing from primal values
    # alone (the flags come broadcast), which JAX would otherwise run in a loop of its own.
    dh, dc = carry
    dz_ext, dh_ext, p, q, f, update, valid, reset, zone_h, zone_c = step
    inputs, state_dtype = lane.inputs, lane.c0.dtype
    if reset is not None:
        dh, dc = _pick(reset, tangent.inputs.reset_state, (dh, dc))
    dh_in = dh if inputs.recurrent_mask is None else dh * inputs.recurrent_mask
    dz = (dz_ext + matmul_stored(dh_in, weights.weight_hh, state_dtype)) * p
    dz_i, dz_f, dz_g, dz_o = jnp.split(dz, 4, axis=-1)
    dc_new = f * dc + (dz_i + dz_f + dz_g)
    dr = q * dc_new + dz_o
    dh_new = dr if dh_ext is None else matmul_stored(dr, weights.weight_hr, state_dtype) + dh_ext
    dh_new = zone(dh, dh_new, config.zoneout_h, zone_h)
    dc_new = zone(dc, dc_new, config.zoneout_c, zone_c)
    dh_new, dc_new = _pick(update, (dh_new, dc_new), (dh, dc))
    return (dh_new, dc_new), dh_new if valid is None else jnp.where(valid, dh_new, 0)


def _tangent(
    config: Config, lanes: tuple[Lane, ...], tangents: tuple[Lane, ...], per_step: tuple
) -> tuple[tuple, tuple]:
    """The linear tangent loop of every lane: per lane `((dh, dc), dys)`.

    A long loop runs in chunks (`tangent_chunk`), each computing the hoisted products of
    its own steps: the loop's input, and in reverse mode its output that the weight-gradient
    GEMMs read, stay one chunk long; reverse mode recomputes a chunk's `[x_t, h_t]`.
    """
    weights = tuple(stored_recurrent(lane.params, config.dtype) for lane in lanes)
    external = jax.checkpoint(functools.partial(_external, config=config))

    def step(lane: tuple, carry: Pair, per_step: tuple) -> tuple[Pair, jax.Array]:
        return _tangent_step(config, *lane, carry, per_step)

    body = _in_lockstep(step, tuple(zip(weights, lanes, tangents, strict=True)))

    def run(carry: tuple, chunk: tuple, before: tuple) -> tuple[tuple, tuple]:
        per_step = tuple(
            (*external(lane, tangent, sources, row), *loop_inputs)
            for lane, tangent, (sources, loop_inputs), row in zip(
                lanes, tangents, chunk, before, strict=True
            )
        )
        return jax.lax.scan(body, carry, per_step, unroll=config.unroll, reverse=config.reverse)

    carry = tuple((tangent.h0, tangent.c0) for tangent in tangents)
    xs, gates = lanes[0].inputs.xs, sum(lane.params.weight_hh.shape[0] for lane in lanes)
    size = tangent_chunk(xs.shape[0], math.prod(xs.shape[1:-1]), gates)
    # A chunk's first step enters with the output of the step run before it (h0 at first).
    rows = tuple((sources.ys, sources.valid) for sources, _ in per_step)
    first = tuple((lane.h0, _first_valid(lane.inputs.valid)) for lane in lanes)
    return in_chunks(run, carry, per_step, size, (rows, first), config.reverse)


def _first_valid(valid: jax.Array | None) -> jax.Array | None:
    return None if valid is None else jnp.ones(valid.shape[1:], bool)  # h0 is what it holds


def _tangent_inputs(
    lane: Lane, tangent: Lane, ys: jax.Array, saved: Saved
) -> tuple[Sources, tuple]:
    # What one lane's tangent loop reads per step: the sources of its hoisted products,
    # then what each step reads itself.
    i = lane.inputs
    sources = Sources(i.xs, i.update, ys, i.valid, i.reset, tangent.inputs.xs, saved.r)
    sizes = (lane.h0.shape[-1], lane.c0.shape[-1])
    update, reset = (steps.broadcast_flag(flag, sizes) for flag in (i.update, i.reset))
    valid = None if i.valid is None else steps.broadcast_flag(i.valid, sizes[:1])[0]  # h's
    loop_inputs = (saved.p, saved.q, saved.f, update, valid, reset, i.zoneout_h, i.zoneout_c)
    return sources, loop_inputs


@lstm_kernel.defjvp
def _lstm_kernel_jvp(config: Config, primals: tuple, tangents: tuple) -> tuple[tuple, tuple]:
    (lanes,), (d_lanes,) = primals, tangents
    # The factors are saved by one loop per lane: on XLA:CPU, saving two lanes' factors
    # in one loop measured 8% slower than two loops. The tangent loop runs them together.
    saving = [_forward(config, (lane,), keep=True) for lane in lanes]
    finals = tuple(final for (final,), _ in saving)
    outputs = tuple(output for _, (output,) in saving)
    per_step = tuple(
        _tangent_inputs(lane, tangent, ys, saved)
        for lane, tangent, (ys, saved) in zip(lanes, d_lanes, outputs, strict=True)
    )
    d_finals, d_ys = _tangent(config, lanes, d_lanes, per_step)
    primal_out = tuple((h, c, ys) for (h, c), (ys, _) in zip(finals, outputs, strict=True))
    tangent_out = tuple((dh, dc, dys) for (dh, dc), dys in zip(d_finals, d_ys, strict=True))
    return primal_out, tangent_out
