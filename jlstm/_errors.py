"""jlstm's exceptions and the format of every message they carry.

A leaf module (NumPy and JAX only) so that both `_params` and `_checks` can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["LSTMError", "LSTMTypeError", "LSTMValueError"]


class LSTMError(Exception):
    """Base class of every argument error that jlstm raises."""


class LSTMValueError(LSTMError, ValueError):
    """An argument has the wrong shape, size or value."""


class LSTMTypeError(LSTMError, TypeError):
    """An argument has the wrong type, dtype or pytree structure."""


def fail(
    fn: str,
    arg: str,
    expected: str,
    actual: Any,
    hint: str | None = None,
    *,
    kind: type[LSTMError] = LSTMValueError,
) -> NoReturn:
    """Raise `kind` with jlstm's message format: function, argument, expected, actual, hint."""
    message = f"jlstm.{fn}: `{arg}` must be {expected}, got {actual}."
    if hint:
        message += f" {hint}"
    raise kind(message)


def shape_str(shape: Sequence[int]) -> str:
    """Format a shape the way NumPy prints it: (3,), (2, 5)."""
    return str(tuple(int(d) for d in shape))


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
