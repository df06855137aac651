"""One LSTM step: the textbook equations on pytree params."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlstm import _checks as checks
from jlstm._params import LSTMParams, LSTMState

__all__ = ["lstm_cell"]


class CellWeights(NamedTuple):
    """`LSTMParams` laid out for right-multiplication, in the compute dtype."""

    weight_ih_t: jax.Array  # (input_size, 4*hidden_size)
    weight_hh_t: jax.Array  # (out_size, 4*hidden_size)
    bias: jax.Array | None  # (4*hidden_size,), kept in the params' dtype
    weight_hr_t: jax.Array | None  # (hidden_size, proj_size)


def prepare(params: LSTMParams, dtype: Any = None) -> CellWeights:
    """Transpose the weights once (outside any loop) and cast them to the compute dtype."""

    def cast(weight: jax.Array | None) -> jax.Array | None:
        if weight is None:
            return None
        return weight.T if dtype is None else weight.T.astype(dtype)

    return CellWeights(
        cast(params.weight_ih), cast(params.weight_hh), params.bias, cast(params.weight_hr)
    )


def _matmul(x: jax.Array, weight: jax.Array, out_dtype: Any) -> jax.Array:
    # With a compute dtype (e.g. bfloat16) the product accumulates in the state dtype.
    return jnp.matmul(x.astype(weight.dtype), weight, preferred_element_type=out_dtype)


def step(weights: CellWeights, state: LSTMState, x: jax.Array) -> tuple[LSTMState, jax.Array]:
    """The LSTM equations on prepared weights; `h` is returned in the state dtype."""
    dtype = state.c.dtype
    z = _matmul(x, weights.weight_ih_t, dtype) + _matmul(state.h, weights.weight_hh_t, dtype)
    if weights.bias is not None:
        z = z + weights.bias.reshape((1,) * (z.ndim - 1) + (-1,))  # explicit rank
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c = jax.nn.sigmoid(f) * state.c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    if weights.weight_hr_t is not None:
        h = _matmul(h, weights.weight_hr_t, dtype)
    return LSTMState(h, c), h


def lstm_cell(
    params: LSTMParams, state: LSTMState, x: jax.Array, *, dtype: Any = None
) -> tuple[LSTMState, jax.Array]:
    r"""One LSTM step (Hochreiter & Schmidhuber 1997, with a forget gate, Gers et al. 2000).

    .. math::

        z &= W_{ih} x + W_{hh} h + b, \quad (i, f, g, o) = \mathrm{split}(z, 4) \\
        c' &= \sigma(f) \odot c + \sigma(i) \odot \tanh(g) \\
        h' &= \sigma(o) \odot \tanh(c') \quad (\text{with projection: } h' = W_{hr} h')

    The signature `(state, x) -> (state, h)` is that of a `jax.lax.scan` body.

    Args:
      params: an `LSTMParams`.
      state: `LSTMState(h, c)`, `h` of shape `(*batch, out_size)`, `c` of shape
        `(*batch, hidden_size)`, both of the params' dtype.
      x: input of shape `(*batch, input_size)`.
      dtype: compute dtype of the matrix products (e.g. `jnp.bfloat16`); the cell state
        keeps the params' dtype. Without it, `x` must have the params' dtype.

    Returns:
      `(new_state, h)`, `h` of shape `(*batch, out_size)` (in `dtype` if given).

    Example:
      >>> import jax, jax.numpy as jnp, jlstm
      >>> params = jlstm.init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
      >>> state = jlstm.zero_state(params, batch_shape=(4,))
      >>> state, h = jlstm.lstm_cell(params, state, jnp.ones((4, 3)))
      >>> h.shape, state.c.shape
      ((4, 2), (4, 2))
    """
    input_size, hidden_size, out_size = checks.params("lstm_cell", params)
    dtype = checks.compute_dtype("lstm_cell", dtype)
    params_dtype = params.weight_ih.dtype
    checks.inputs("lstm_cell", "x", x, "(*batch, input_size)", input_size, params_dtype, dtype)
    checks.state("lstm_cell", state, x.shape[:-1], hidden_size, out_size, params_dtype)
    state, h = step(prepare(params, dtype), state, x)
    return state, h if dtype is None else h.astype(dtype)
