"""Validation of every argument jlstm takes, raised at trace time with one message format.

Each kind of mistake has one error kind: a wrong type, dtype or pytree structure is an
`LSTMTypeError`, a wrong shape, size or value an `LSTMValueError` (`jlstm._errors`).
"""

from jlstm._validation.arrays import (
    array,
    as_array,
    float_array,
    inputs,
    lengths,
    rank,
    step_flags,
)
from jlstm._validation.cells import cell
from jlstm._validation.params import (
    BARE_STATE_HINT,
    leaf_shape,
    params,
    params_type,
    state,
    state_type,
)
from jlstm._validation.values import (
    batch_shape,
    compute_dtype,
    flag,
    float_dtype,
    function,
    noise_key,
    prng_key,
    projection,
    rate,
    renamed,
    size,
    unroll,
)

__all__ = [
    "BARE_STATE_HINT",
    "array",
    "as_array",
    "batch_shape",
    "cell",
    "compute_dtype",
    "flag",
    "float_array",
    "float_dtype",
    "function",
    "inputs",
    "leaf_shape",
    "lengths",
    "noise_key",
    "params",
    "params_type",
    "prng_key",
    "projection",
    "rank",
    "rate",
    "renamed",
    "size",
    "state",
    "state_type",
    "step_flags",
    "unroll",
]
