"""jlstm's exceptions and the format of every message they carry.

A leaf module (NumPy and jax.numpy only) so that both `_params` and `_checks` can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

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
