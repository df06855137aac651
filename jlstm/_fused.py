r"""The plain LSTM over a whole sequence, with a backward pass shaped like cuDNN's.

Autodiff of `lax.scan` computes the weight gradients one small step at a time inside the
backward loop. Here a `jax.custom_vjp` keeps only the recurrence in the reverse loop,

.. math::

    \delta h_t &= \bar y_t + \delta z_{t+1} W_{hh}, \qquad
    \delta c_t = \delta c_{t+1} \odot f_{t+1} + \delta h_t \odot q_t, \qquad
    \delta z_t = [\delta c_t, \delta c_t, \delta c_t, \delta h_t] \odot p_t \\
    p_t &= [g_t i_t (1-i_t),\; c_{t-1} f_t (1-f_t),\; i_t (1-g_t^2),\;
            \tanh c_t\, o_t (1-o_t)], \qquad q_t = o_t (1 - \tanh^2 c_t)

with :math:`p_t, q_t, f_t` saved by the forward pass (each :math:`\delta z_t` is written over
:math:`p_t`, so the backward pass needs no second buffer of that size);
it computes everything else after the loop as single matrix products over all steps:
:math:`[\bar W_{ih}, \bar W_{hh}] = \delta Z^T [X, H_{prev}]` (one GEMM),
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
    """The forward scan; with `keep`, it also emits what the backward loop needs per step.

    Per step: `p` with `dz = [dc, dc, dc, dh] * p` (each gate's derivative times what the
    gate multiplies), `q = o (1 - tanh^2 c')` with `dc += dh * q`, and the forget gate `f`
    that carries `dc` one step back; so a backward step is a few multiply-adds and one
    matrix product. With a projection, also `r = o tanh(c')` for the gradient of `W_hr`.
    """
    w_ih, w_hh, bias, w_hr = weights

    def body(carry, x):
        h, c = carry
        z = x @ w_ih + h @ w_hh
        if bias is not None:
            z = z + bias.reshape(1, -1)
        i, f, g, o = jnp.split(z, 4, axis=-1)
        i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
        c_new = f * c + i * g
        tanh_c = jnp.tanh(c_new)
        r = o * tanh_c
        h_new = r if w_hr is None else r @ w_hr
        if not keep:
            return (h_new, c_new), h_new
        dz_dc = [g * i * (1 - i), c * f * (1 - f), i * (1 - g * g)]
        p = jnp.concatenate([*dz_dc, tanh_c * o * (1 - o)], -1)  # (B, 4H)
        q = o * (1 - tanh_c * tanh_c)  # (B, H)
        return (h_new, c_new), (h_new, p, q, f, None if w_hr is None else r)

    return jax.lax.scan(body, (h0, c0), xs)


@jax.custom_vjp
def _sequence(weights: CellWeights, h0: jax.Array, c0: jax.Array, xs: jax.Array):
    (h, c), ys = _run(weights, h0, c0, xs, keep=False)
    return h, c, ys


def _sequence_fwd(weights: CellWeights, h0: jax.Array, c0: jax.Array, xs: jax.Array):
    (h, c), (ys, p, q, f, r) = _run(weights, h0, c0, xs, keep=True)
    return (h, c, ys), (weights, h0, xs, ys, p, q, f, r)


def _sequence_bwd(residuals, cotangents):
    weights, h0, xs, ys, p, q, f, r = residuals
    dh_last, dc_last, dys = cotangents
    w_ih, w_hh, bias, w_hr = weights
    # Transposed once here, not at every step of the loop.
    weight_hh = jnp.transpose(w_hh)
    weight_hr = None if w_hr is None else jnp.transpose(w_hr)

    def body(carry, step):
        dh, dc, p_t, buffer = carry
        dy, q_t, f_t, t = step
        dh = dh + dy
        dr = dh if weight_hr is None else dh @ weight_hr
        dc = dc + dr * q_t
        dz = jnp.concatenate([dc, dc, dc, dr], axis=-1) * p_t
        # dz_t replaces p_t, which no later step reads: one (time, batch, 4H) buffer, not two.
        # p_t came with the carry, read one step ahead: when one fusion both reads the
        # buffer and writes it, XLA copies the whole buffer at every step.
        buffer = jax.lax.dynamic_update_index_in_dim(buffer, dz, t, 0)
        p_next = jax.lax.dynamic_index_in_dim(buffer, jnp.maximum(t - 1, 0), 0, keepdims=False)
        return (dz @ weight_hh, dc * f_t, p_next, buffer), None if weight_hr is None else dh

    steps = (dys, q, f, jnp.arange(xs.shape[0]))
    carry = (dh_last, dc_last, p[-1], p)
    (dh0, dc0, _, dz), dh_all = jax.lax.scan(body, carry, steps, reverse=True)
    dz_rows = _rows(dz)
    # One GEMM for both weight gradients, in the (4H, features) layout it is fastest in.
    h_prev = jnp.concatenate([h0[None], ys[:-1]])
    d_stacked = (dz_rows.T @ _rows(jnp.concatenate([xs, h_prev], axis=-1))).T
    input_size = xs.shape[-1]
    d_weights = CellWeights(
        weight_ih_t=d_stacked[:input_size],
        weight_hh_t=d_stacked[input_size:],
        bias=None if bias is None else dz_rows.sum(0),
        weight_hr_t=None if w_hr is None else _rows(r).T @ _rows(dh_all),
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
