"""Validation of every argument jlstm takes, raised at trace time with one message format.

Each kind of mistake has one error kind: a wrong type, dtype or pytree structure is an
`LSTMTypeError`, a wrong shape, size or value an `LSTMValueError` (`jlstm._errors`).
"""

from jlstm._validation.arrays import array, as_array, float_array, inputs, lengths, step_flags
from jlstm._validation.params import BARE_STATE_HINT, leaf_shape, params, state, state_type
from jlstm._validation.values import (
    compute_dtype,
    flag,
    float_dtype,
    prng_key,
    rate,
    renamed,
    size,
)

__all__ = [
    "BARE_STATE_HINT",
    "array",
    "as_array",
    "compute_dtype",
    "flag",
    "float_array",
    "float_dtype",
    "inputs",
    "leaf_shape",
    "lengths",
    "params",
    "prng_key",
    "rate",
    "renamed",
    "size",
    "state",
    "state_type",
    "step_flags",
]
