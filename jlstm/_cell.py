"""One LSTM step: the textbook equations on pytree params."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlstm import _validation as checks
from jlstm import _variants as variants
from jlstm._public import public
from jlstm._types import LSTMParams, LSTMState
from jlstm._variants import GateTrace
from jlstm._weights import CellWeights, bias_row, matmul, prepare

__all__ = ["lstm_cell"]


def cast_weights(weights: CellWeights, dtype: Any) -> CellWeights:
    """The weight matrices in the compute `dtype` (None: unchanged); the bias keeps its own.

    Cast inside the loop body, not once before the loop: JAX sums the gradient of a
    loop-invariant array over the steps in that array's dtype, and bfloat16 weights would
    sum thousands of steps of weight gradients in bfloat16 (errors of 10% and more).
    """
    if dtype is None:
        return weights
    weight_hr_t = None if weights.weight_hr_t is None else weights.weight_hr_t.astype(dtype)
    return weights._replace(
        weight_ih_t=weights.weight_ih_t.astype(dtype),
        weight_hh_t=weights.weight_hh_t.astype(dtype),
        weight_hr_t=weight_hr_t,
    )


class Activations(NamedTuple):
    """One step's gate activations and new cell state, each `(*batch, hidden_size)`."""

    i: jax.Array  # sigma(z_i)
    f: jax.Array  # sigma(z_f)
    g: jax.Array  # tanh(z_g)
    o: jax.Array  # sigma(z_o)
    c: jax.Array  # c' = f c + i g
    tanh_c: jax.Array  # tanh(c')


def activations(weights: CellWeights, h: jax.Array, c: jax.Array, x: jax.Array) -> Activations:
    """The gates and the new cell state: everything of a step before the output `h'`."""
    z = matmul(x, weights.weight_ih_t, c.dtype) + matmul(h, weights.weight_hh_t, c.dtype)
    if weights.bias is not None:
        z = z + bias_row(weights.bias, z)
    i, f, g, o = jnp.split(z, 4, axis=-1)
    i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
    c = f * c + i * g
    return Activations(i, f, g, o, c, jnp.tanh(c))


def output(weights: CellWeights, a: Activations) -> jax.Array:
    """`h' = o tanh(c')`, projected by `W_hr` for an LSTMP layer."""
    h = a.o * a.tanh_c
    return h if weights.weight_hr_t is None else matmul(h, weights.weight_hr_t, a.c.dtype)


def step(weights: CellWeights, state: LSTMState, x: jax.Array) -> tuple[LSTMState, jax.Array]:
    """The LSTM equations on prepared weights; `h` is returned in the state dtype."""
    a = activations(weights, state.h, state.c, x)
    h = output(weights, a)
    return LSTMState(h, a.c), h


@public("jlstm")
def lstm_cell(
    params: LSTMParams,
    state: LSTMState,
    x: jax.Array,
    *,
    dtype: Any = None,
    return_gates: bool = False,
) -> tuple[LSTMState, jax.Array | GateTrace]:
    r"""One LSTM step (Hochreiter & Schmidhuber 1997, with a forget gate, Gers et al. 2000).

    .. math::

        z &= W_{ih} x + W_{hh} h + b, \quad (i, f, g, o) = \mathrm{split}(z, 4) \\
        c' &= \sigma(f) \odot c + \sigma(i) \odot \tanh(g) \\
        h' &= \sigma(o) \odot \tanh(c') \quad (\text{with projection: } h' = W_{hr} h')

    The signature `(state, x) -> (state, h)` is that of a `jax.lax.scan` body. Params made
    with `jlstm.init_lstm(..., peephole=True, layer_norm=True, cifg=True)` (any of them)
    run the corresponding variant of these equations.

    Args:
      params: an `LSTMParams`.
      state: `LSTMState(h, c)`, `h` of shape `(*batch, out_size)`, `c` of shape
        `(*batch, hidden_size)`, both of the params' dtype.
      x: input of shape `(*batch, input_size)`.
      dtype: compute dtype of the matrix products (e.g. `jnp.bfloat16`); the cell state
        keeps the params' dtype. Without it, `x` must have the params' dtype.
      return_gates: return a `GateTrace` of this step (`h`, `c` and the gate activations
        `i, f, g, o`, each `(*batch, size)`) instead of `h`.

    Returns:
      `(new_state, h)`, `h` of shape `(*batch, out_size)` (in `dtype` if given); or
      `(new_state, GateTrace)` with `return_gates=True`.

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
    x = checks.inputs("lstm_cell", "x", x, "(*batch, input_size)", input_size, params_dtype, dtype)
    checks.state("lstm_cell", state, x.shape[:-1], hidden_size, out_size, params_dtype)
    checks.flag("lstm_cell", "return_gates", return_gates)
    if not return_gates and not variants.has_variants(params):
        state, h = step(prepare(params, dtype), state, x)
        return state, h if dtype is None else h.astype(dtype)
    state, trace = variants.step(variants.prepare_variants(params, dtype), state, x)
    h = trace.h if dtype is None else trace.h.astype(dtype)
    return state, trace._replace(h=h) if return_gates else h
