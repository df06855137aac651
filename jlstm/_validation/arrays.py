"""Checks of the arrays users pass: inputs, lengths, masks and resets.

Every array is first read by one rule, `as_array` (NumPy arrays, lists and numbers as
`jnp.asarray` reads them). Every check runs on static information (`.shape`, `.dtype`,
concrete values), so it raises while a function is being traced, before XLA sees it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlstm._errors import LSTMTypeError, fail, shape_str
from jlstm._validation import runtime


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


def array(fn: str, arg: str, value: Any) -> None:
    """Check that `value` is an array (anything with `.shape` and `.dtype`)."""
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        fail(fn, arg, "an array", type(value).__name__, kind=LSTMTypeError)


def float_array(fn: str, arg: str, value: Any) -> None:
    """Check that `value` is a real floating-point array (not int, bool or complex)."""
    array(fn, arg, value)
    if not jnp.issubdtype(value.dtype, jnp.floating):
        fail(
            fn,
            arg,
            "a real floating-point array",
            f"dtype {value.dtype}",
            "Cast it first, e.g. `x.astype(jnp.float32)`.",
            kind=LSTMTypeError,
        )


def rank(fn: str, arg: str, x: Any, layout: str) -> None:
    """Check that the array `x` has at least the named axes of `layout`: "(*batch, time, 3)"."""
    min_rank = layout.count(",") + 1 - layout.count("*")
    if x.ndim < min_rank:
        fail(fn, arg, f"of shape {layout}", f"shape {shape_str(x.shape)} (rank {x.ndim})")


def inputs(
    fn: str, arg: str, x: Any, layout: str, input_size: int, params_dtype: Any, dtype: Any
) -> jax.Array:
    """Check an input array and return it: floating, rank, feature size, dtype vs params.

    NumPy arrays, lists and Python numbers are read first as `as_array` says (float64
    becomes float32 unless x64 is on, as in `jnp.asarray`); a JAX array must already have
    the params' dtype. `layout` spells the expected shape, e.g.
    "(*batch, time, input_size)"; its number of named axes is the minimum rank.
    """
    x = as_array(fn, arg, x)
    float_array(fn, arg, x)
    expected = layout.replace("input_size", str(input_size))
    rank(fn, arg, x, expected)
    if x.shape[-1] != input_size:
        fail(
            fn,
            arg,
            f"of shape {expected} (input_size from params.weight_ih)",
            f"shape {shape_str(x.shape)}",
        )
    if dtype is None and x.dtype != params_dtype:
        fail(
            fn,
            arg,
            f"of the params' dtype {params_dtype} when no compute `dtype=` is given",
            f"dtype {x.dtype}",
            "Cast one of them, or pass dtype= to choose the compute dtype.",
            kind=LSTMTypeError,
        )
    return x


def lengths(
    fn: str,
    value: Any,
    batch_shape: tuple[int, ...],
    time: int,
    hint: str | None = None,
    *,
    run_time: bool = False,
) -> jax.Array:
    """Check `lengths` and return it as an int32 array, clipped to [0, time] when traced.

    NumPy arrays and lists are read as `as_array` says. Concrete lengths outside
    [0, time] raise; traced ones cannot, so they are clipped, and with `run_time` checked
    by a `checkify.check` (see `jlstm.checked`).
    """
    value = as_array(fn, "lengths", value)
    array(fn, "lengths", value)
    if not jnp.issubdtype(value.dtype, jnp.integer):
        fail(
            fn,
            "lengths",
            "an integer array",
            f"dtype {value.dtype}",
            "Cast with lengths.astype(jnp.int32).",
            kind=LSTMTypeError,
        )
    if tuple(value.shape) != batch_shape:
        fail(
            fn,
            "lengths",
            f"of shape {shape_str(batch_shape)} (the batch shape of the inputs)",
            f"shape {shape_str(value.shape)}",
            hint,
        )
    if isinstance(value, jax.core.Tracer):
        if run_time:
            runtime.lengths_in_range(fn, value, time)
    elif value.size:
        concrete = np.asarray(value)
        low, high = int(concrete.min()), int(concrete.max())
        if low < 0 or high > time:
            fail(
                fn,
                "lengths",
                f"in [0, {time}] (the number of time steps)",
                f"values in [{low}, {high}]",
                hint,
            )
    return jnp.clip(jnp.asarray(value, jnp.int32), 0, time)


def step_flags(fn: str, arg: str, value: Any, shape: tuple[int, ...], layout: str) -> jax.Array:
    """Check a per-step boolean array such as `mask` or `resets`, of `shape` spelt `layout`.

    NumPy arrays and lists are read as `as_array` says.
    """
    value = as_array(fn, arg, value)
    array(fn, arg, value)
    if value.dtype != jnp.bool_:
        fail(
            fn,
            arg,
            "a boolean array",
            f"dtype {value.dtype}",
            f"Cast with {arg}.astype(bool).",
            kind=LSTMTypeError,
        )
    if tuple(value.shape) != shape:
        fail(fn, arg, f"of shape {layout} = {shape_str(shape)}", f"shape {shape_str(value.shape)}")
    return jnp.asarray(value)
