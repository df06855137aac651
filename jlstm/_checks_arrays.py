"""Reading the arrays users pass: NumPy arrays, lists and numbers as `jnp.asarray` reads them.

A leaf of the checks (NumPy and JAX only), so that every check that takes an array
(`xs`, `lengths`, `mask`, `resets`, state leaves) reads foreign inputs by one rule.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlstm._errors import LSTMTypeError, fail


def as_array(fn: str, arg: str, value: Any) -> Any:
    """Read `value` as an array the way `jnp.asarray` does, or leave it for the checks.

    The rule: JAX arrays and tracers come back unchanged, so that their dtype is checked
    as given. NumPy arrays and scalars, Python numbers, nested lists or tuples of numbers
    and other objects NumPy reads through `__array__` become NumPy arrays of the dtype
    `jnp.asarray` would give them (`jax.dtypes.canonicalize_dtype`): float64 becomes
    float32 and int64 int32 unless `jax_enable_x64` is on. They stay NumPy arrays so
    that their values stay concrete under `jax.jit` (concrete `lengths` are checked). PyTorch
    tensors (told apart by their module, without importing torch) raise an
    `LSTMTypeError` that says how to convert them, as NumPy cannot read one that is on a
    GPU or requires grad. Anything else comes back unchanged.
    """
    if isinstance(value, jax.Array):
        return value
    if type(value).__module__.split(".")[0] == "torch":
        fail(
            fn,
            arg,
            "a JAX or NumPy array",
            f"a PyTorch {type(value).__name__}",
            "Convert it first: jnp.asarray(x.detach().cpu().numpy()).",
            kind=LSTMTypeError,
        )
    readable = isinstance(value, np.ndarray | np.generic | list | tuple | int | float)
    if not (readable or hasattr(value, "__array__")):
        return value
    try:  # NumPy keeps concrete values concrete under a trace (lengths are checked)
        converted = np.asarray(value)
    except TypeError:  # a list holding tracers
        return _traced_list(fn, arg, value)
    except ValueError as error:  # a ragged list
        fail(
            fn, arg, "an array of numbers", f"{type(value).__name__} ({error})", kind=LSTMTypeError
        )
    if converted.dtype.kind not in "biufc":
        fail(fn, arg, "an array of numbers", f"dtype {converted.dtype}", kind=LSTMTypeError)
    return converted.astype(jax.dtypes.canonicalize_dtype(converted.dtype), copy=False)


def _traced_list(fn: str, arg: str, value: Any) -> jax.Array:
    try:
        return jnp.asarray(value)
    except (TypeError, ValueError) as error:
        fail(
            fn, arg, "an array of numbers", f"{type(value).__name__} ({error})", kind=LSTMTypeError
        )
