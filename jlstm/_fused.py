r"""The plain LSTM over a whole sequence, with a backward pass shaped like cuDNN's.

Autodiff of `lax.scan` computes the weight gradients one small step at a time inside the
backward loop. Here a `jax.custom_vjp` keeps only the recurrence in the reverse loop,

.. math::

    \delta h_t &= \bar y_t + \delta z_{t+1} W_{hh}, \qquad
    \delta c_t = \delta c_{t+1} \odot f_{t+1} + \delta h_t \odot o_t (1 - \tanh^2 c_t) \\
    \delta z_t &= [\delta c_t g_t\, i_t(1-i_t),\; \delta c_t c_{t-1} f_t(1-f_t),\;
                   \delta c_t i_t (1-g_t^2),\; \delta h_t \tanh c_t\, o_t(1-o_t)]

and computes everything else after it as single matrix products over all steps:
:math:`\bar W_{ih} = \delta Z^T X`, :math:`\bar W_{hh} = \delta Z^T H_{prev}`,
:math:`\bar b = \sum \delta Z`, :math:`\bar X = \delta Z W_{ih}`.

The rule is reverse-mode only (JAX cannot push tangents through a `custom_vjp`), so
`jlstm.lstm(..., jvp=True)` steps with plain `lax.scan` instead. Second-order reverse mode
works: the backward pass is itself ordinary JAX code.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jlstm._cell import CellWeights
from jlstm._params import LSTMState

__all__ = ["fused_lstm"]


def _run(weights: CellWeights, h0: jax.Array, c0: jax.Array, xs: jax.Array, keep: bool):
    """The forward scan; with `keep`, it also emits the gate activations and cell states."""
    w_ih, w_hh, bias, w_hr = weights

    def body(carry, x):
        h, c = carry
        z = x @ w_ih + h @ w_hh
        if bias is not None:
            z = z + bias.reshape(1, -1)
        i, f, g, o = jnp.split(z, 4, axis=-1)
        i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
        c_new = f * c + i * g
        r = o * jnp.tanh(c_new)
        h_new = r if w_hr is None else r @ w_hr
        emit = (h_new, jnp.concatenate([i, f, g, o], -1), c_new) if keep else h_new
        return (h_new, c_new), emit

    return jax.lax.scan(body, (h0, c0), xs)


@jax.custom_vjp
def _sequence(weights: CellWeights, h0: jax.Array, c0: jax.Array, xs: jax.Array):
    (h, c), ys = _run(weights, h0, c0, xs, keep=False)
    return h, c, ys


def _sequence_fwd(weights: CellWeights, h0: jax.Array, c0: jax.Array, xs: jax.Array):
    (h, c), (ys, gates, cs) = _run(weights, h0, c0, xs, keep=True)
    return (h, c, ys), (weights, h0, c0, xs, ys, gates, cs)


def _sequence_bwd(residuals, cotangents):
    weights, h0, c0, xs, ys, gates, cs = residuals
    dh_last, dc_last, dys = cotangents
    w_ih, w_hh, bias, w_hr = weights
    c_prev = jnp.concatenate([c0[None], cs[:-1]])

    def body(carry, step):
        dh, dc = carry
        dy, gates_t, c_t, c_prev_t = step
        dh = dh + dy
        dr = dh if w_hr is None else dh @ w_hr.T
        i, f, g, o = jnp.split(gates_t, 4, axis=-1)
        tanh_c = jnp.tanh(c_t)
        dc = dc + dr * o * (1 - tanh_c * tanh_c)
        dz_i = dc * g * i * (1 - i)
        dz_f = dc * c_prev_t * f * (1 - f)
        dz_g = dc * i * (1 - g * g)
        dz_o = dr * tanh_c * o * (1 - o)
        dz = jnp.concatenate([dz_i, dz_f, dz_g, dz_o], axis=-1)
        return (dz @ w_hh.T, dc * f), (dz, dh)

    carry = (dh_last, dc_last)
    (dh0, dc0), (dz, dh_all) = jax.lax.scan(body, carry, (dys, gates, cs, c_prev), reverse=True)
    h_prev = jnp.concatenate([h0[None], ys[:-1]])
    dz_flat = _rows(dz)
    d_weight_hr = None
    if w_hr is not None:
        o = jnp.split(gates, 4, axis=-1)[3]
        d_weight_hr = _rows(o * jnp.tanh(cs)).T @ _rows(dh_all)
    d_weights = CellWeights(
        weight_ih_t=_rows(xs).T @ dz_flat,
        weight_hh_t=_rows(h_prev).T @ dz_flat,
        bias=None if bias is None else dz_flat.sum(0),
        weight_hr_t=d_weight_hr,
    )
    return d_weights, dh0, dc0, dz @ w_ih.T


_sequence.defvjp(_sequence_fwd, _sequence_bwd)


def _rows(a: jax.Array) -> jax.Array:
    """`(time, batch, n)` -> `(time * batch, n)`."""
    return a.reshape(a.shape[0] * a.shape[1], a.shape[2])


def fused_lstm(
    weights: CellWeights, state: LSTMState, xs: jax.Array
) -> tuple[LSTMState, jax.Array]:
    """The plain LSTM over time-major `xs` of shape `(time, *batch, input_size)`, time > 0.

    Same numbers as stepping `jlstm._cell.step` with `lax.scan`, with the backward pass
    above. Batch dims are flattened to one for the kernel and restored afterwards.
    """
    time, *batch, input_size = xs.shape
    rows = math.prod(batch)
    h0 = state.h.reshape(rows, state.h.shape[-1])
    c0 = state.c.reshape(rows, state.c.shape[-1])
    h, c, ys = _sequence(weights, h0, c0, xs.reshape(time, rows, input_size))
    final = LSTMState(h.reshape(state.h.shape), c.reshape(state.c.shape))
    return final, ys.reshape(time, *batch, ys.shape[-1])
