r"""A plain tanh RNN (Elman 1990) with the same params layout and scan as `jlstm.lstm`.

.. math::  h' = \tanh(W_{ih} x + W_{hh} h + b)

The baseline the LSTM was invented to beat: its gradient through time is a product of
`diag(1 - h'^2) W_hh` factors, which vanishes over long gaps (Hochreiter 1991; Bengio et
al. 1994). It is initialised like `jlstm.init_lstm` (Glorot uniform input weights,
orthogonal recurrent weights, zero bias), so the two models differ only in the cell.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["RNNParams", "init_rnn", "rnn"]


class RNNParams(NamedTuple):
    """Weights of one tanh RNN layer."""

    weight_ih: jax.Array  # (hidden_size, input_size)
    weight_hh: jax.Array  # (hidden_size, hidden_size)
    bias: jax.Array  # (hidden_size,)


def init_rnn(key: jax.Array, input_size: int, hidden_size: int) -> RNNParams:
    """Glorot uniform `weight_ih`, orthogonal `weight_hh`, zero bias: `jlstm.init_lstm`'s."""
    key_ih, key_hh = jax.random.split(key)
    return RNNParams(
        weight_ih=jax.nn.initializers.glorot_uniform()(key_ih, (hidden_size, input_size)),
        weight_hh=jax.nn.initializers.orthogonal()(key_hh, (hidden_size, hidden_size)),
        bias=jnp.zeros((hidden_size,), jnp.float32),
    )


def rnn(params: RNNParams, xs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Run the RNN over `xs` of shape `(batch, time, input_size)` from a zero state.

    Returns:
      `(h, hs)`: the final state `(batch, hidden_size)` and the outputs
      `(batch, time, hidden_size)`, in the order of `jax.lax.scan` and `jlstm.lstm`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> params = init_rnn(jax.random.key(0), input_size=2, hidden_size=3)
      >>> h, hs = rnn(params, jnp.ones((4, 5, 2)))
      >>> h.shape, hs.shape
      ((4, 3), (4, 5, 3))
    """
    weight_ih_t, weight_hh_t = params.weight_ih.T, params.weight_hh.T  # once, outside the loop
    bias = params.bias[None, :]

    def step(h: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = jnp.tanh(x @ weight_ih_t + h @ weight_hh_t + bias)
        return h, h

    h = jnp.zeros((xs.shape[0], params.weight_hh.shape[0]), xs.dtype)
    h, hs = jax.lax.scan(step, h, jnp.moveaxis(xs, 1, 0))
    return h, jnp.moveaxis(hs, 0, 1)
