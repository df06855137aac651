"""Cell weights laid out for the loop: transposed once and cast to the compute dtype."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlstm._types import LSTMParams


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


def matmul(x: jax.Array, weight: jax.Array, out_dtype: Any) -> jax.Array:
    """`x @ weight` in the weight's dtype, accumulated in `out_dtype` (the state dtype)."""
    # With a compute dtype (e.g. bfloat16) the product accumulates in the state dtype.
    return jnp.matmul(x.astype(weight.dtype), weight, preferred_element_type=out_dtype)


def matmul_stored(x: jax.Array, weight: jax.Array, out_dtype: Any) -> jax.Array:
    """`x @ weight.T` for a weight in its stored `(out, in)` layout, as `matmul` accumulates.

    Its transpose (reverse mode) multiplies by the stored weight without a transpose, which
    XLA:CPU runs up to 1.4x faster inside a loop than a product with a transposed operand.
    """
    contract = (((x.ndim - 1,), (1,)), ((), ()))
    return jax.lax.dot_general(
        x.astype(weight.dtype), weight, contract, preferred_element_type=out_dtype
    )


def stored_recurrent(params: LSTMParams, dtype: Any) -> LSTMParams:
    """`params` with the recurrent weights, as stored, in the compute dtype (see `matmul_stored`).

    Like `prepare`, the bias keeps its own dtype.
    """
    if dtype is None:
        return params
    recurrent = {"weight_hh": params.weight_hh, "weight_hr": params.weight_hr}
    return params._replace(**jax.tree.map(lambda weight: weight.astype(dtype), recurrent))


def bias_row(bias: jax.Array, like: jax.Array) -> jax.Array:
    """`bias` reshaped to broadcast against `like` with an explicit rank (no rank promotion)."""
    return bias.reshape((1,) * (like.ndim - 1) + (-1,))
