"""Checks of Python values: sizes, flags, rates, dtypes, keys and renamed arguments.

A wrong type is an `LSTMTypeError`; a value of the right type out of range an
`LSTMValueError`.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlstm._errors import LSTMTypeError, fail, shape_str


def size(fn: str, arg: str, value: Any, *, allow_none: bool = False) -> None:
    """Check that `value` is a positive Python/NumPy integer (or None when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        fail(fn, arg, "a positive int", repr(value), kind=LSTMTypeError)
    if value <= 0:
        fail(fn, arg, "a positive int", value)


def float_dtype(fn: str, arg: str, dtype: Any) -> jnp.dtype:
    """Check that `dtype` names a real floating dtype and return it canonicalised."""
    try:
        dtype = jnp.dtype(dtype)
    except TypeError:
        fail(fn, arg, "a floating dtype such as jnp.float32", repr(dtype), kind=LSTMTypeError)
    if not jnp.issubdtype(dtype, jnp.floating):
        fail(fn, arg, "a floating dtype such as jnp.float32", dtype, kind=LSTMTypeError)
    return dtype


def flag(fn: str, arg: str, value: Any) -> None:
    """Check a Python bool option (it selects the traced program, so it cannot be traced)."""
    if not isinstance(value, bool | np.bool_):
        fail(fn, arg, "a Python bool", repr(value), kind=LSTMTypeError)


def prng_key(fn: str, value: Any) -> None:
    """Check a single PRNG key: `jax.random.key(...)` or a raw uint32 `jax.random.PRNGKey`."""
    expected = "one PRNG key such as jax.random.key(0)"
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        fail(fn, "key", expected, repr(value), kind=LSTMTypeError)
    typed = jnp.issubdtype(value.dtype, jax.dtypes.prng_key)
    raw = value.dtype == jnp.uint32 and value.ndim == 1
    if not (value.shape == () if typed else raw):
        fail(
            fn,
            "key",
            expected,
            f"dtype {value.dtype} and shape {shape_str(value.shape)}",
            "For one key per sequence, jax.vmap the call over split keys.",
            kind=LSTMTypeError,
        )


def compute_dtype(fn: str, dtype: Any) -> jnp.dtype | None:
    """Check the optional compute `dtype=` option."""
    return None if dtype is None else float_dtype(fn, "dtype", dtype)


def rate(fn: str, arg: str, value: Any) -> float:
    """Check a dropout or zoneout rate: a Python number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        fail(
            fn,
            arg,
            "a Python float in [0, 1)",
            repr(value),
            "The rate decides the traced program, so it cannot be a traced array.",
            kind=LSTMTypeError,
        )
    if not 0 <= value < 1:
        fail(fn, arg, "in [0, 1)", value)
    return float(value)


def renamed(fn: str, old: str, new: str, old_value: Any, new_value: Any, default: Any) -> Any:
    """The value of the argument `new` of `fn`, also accepted under its deprecated name `old`.

    `old_value` None means that `old` was left out. Using `old` warns; giving both raises.
    An explicit `new` that is its `default` reads as left out: Python cannot tell them apart.
    """
    if old_value is None:
        return new_value
    if new_value is not default:
        expected = f"left out when `{new}` is given (it is `{new}`'s deprecated name)"
        fail(fn, old, expected, f"both `{old}=` and `{new}=`", kind=LSTMTypeError)
    message = f"jlstm.{fn}: `{old}=` is deprecated; use {new}= instead."
    warnings.warn(message, DeprecationWarning, stacklevel=3)
    return old_value


def projection(
    fn: str, proj_size: Any, hidden_size: int, *, hidden_arg: str = "hidden_size", layer: int = -1
) -> None:
    """Check an optional `proj_size`: a positive int smaller than the hidden size it projects.

    `hidden_arg` names the hidden size as `fn` calls it; `layer` >= 0 says which layer.
    """
    size(fn, "proj_size", proj_size, allow_none=True)
    if proj_size is not None and proj_size >= hidden_size:
        where = f" in layer {layer}" if layer >= 0 else ""
        fail(fn, "proj_size", f"smaller than {hidden_arg}={hidden_size}{where}", proj_size)


def unroll(fn: str, value: Any) -> None:
    """Check `unroll`: an int >= 1, or a bool (True: the whole loop, False: 1)."""
    if isinstance(value, bool | np.bool_):
        return
    if not isinstance(value, int | np.integer):
        fail(fn, "unroll", "an int >= 1 or a bool", repr(value), kind=LSTMTypeError)
    if value < 1:
        fail(fn, "unroll", "an int >= 1 or a bool", value)


def noise_key(fn: str, key: Any, deterministic: Any, rates: dict[str, float]) -> None:
    """Check the `key` and `deterministic` of a call with the dropout or zoneout `rates`.

    A nonzero rate without a key cannot draw its masks, so it must be switched off by
    name: `deterministic=True` evaluates without them.
    """
    flag(fn, "deterministic", deterministic)
    if key is not None:
        prng_key(fn, key)
    active = ", ".join(f"{name}={value}" for name, value in rates.items() if value)
    if key is None and not deterministic and active:
        fail(
            fn,
            "key",
            "a PRNG key when a dropout or zoneout rate is nonzero",
            f"None ({active})",
            "Pass key=jax.random.key(...) to train, or deterministic=True to evaluate.",
        )


def batch_shape(fn: str, value: Any) -> tuple[int, ...]:
    """Check a batch shape: a tuple of non-negative ints, or one int (read as `(value,)`)."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = (value,)  # like NumPy's shapes: `zero_state(params, 8)`
    expected = "a tuple of non-negative ints"
    if not isinstance(value, tuple | list):
        fail(fn, "batch_shape", expected, repr(value), kind=LSTMTypeError)
    value = tuple(value)
    if any(isinstance(dim, bool) or not isinstance(dim, int | np.integer) for dim in value):
        fail(fn, "batch_shape", expected, repr(value), kind=LSTMTypeError)
    if any(dim < 0 for dim in value):
        fail(fn, "batch_shape", expected, value)
    return value


def function(fn: str, arg: str, value: Any, signature: str) -> None:
    """Check that `value` is callable; `signature` spells the call it must accept."""
    if not callable(value):
        fail(fn, arg, f"a function {signature}", type(value).__name__, kind=LSTMTypeError)
