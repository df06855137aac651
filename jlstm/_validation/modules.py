"""Checks of the Flax modules' options (`jlstm.flax.LSTM`, `jlstm.flax.NNXLSTM`).

Plain Python and JAX: the modules pass their attributes, so this needs no Flax.
"""

from __future__ import annotations

from typing import Any

import jax

from jlstm._errors import LSTMTypeError, fail, shape_str
from jlstm._validation.arrays import array
from jlstm._validation.layers import merge_mode
from jlstm._validation.values import compute_dtype, flag, float_dtype, projection, rate, size


def options(fn: str, options: Any) -> None:
    """Check the options that decide the traced program; raise naming `fn` and the option."""
    size(fn, "features", options.features)
    size(fn, "num_layers", options.num_layers)
    projection(fn, options.proj_size, options.features, hidden_arg="features")
    flags = ("bidirectional", "bias", "time_major", "return_sequences", "return_state")
    for name in (*flags, "remat", "checks"):
        flag(fn, name, getattr(options, name))
    merge_mode(fn, options.merge_mode, allow_none=False)
    for name in ("dropout", "input_dropout", "recurrent_dropout"):
        rate(fn, name, getattr(options, name))
    if options.dropout and options.num_layers == 1:
        fail(
            fn,
            "dropout",
            "0.0 for one layer (it drops the outputs between stacked layers)",
            options.dropout,
            "Keras' `dropout` of the inputs is called `input_dropout` here.",
        )
    float_dtype(fn, "param_dtype", options.param_dtype)
    compute_dtype(fn, options.dtype)


def deterministic(fn: str, attribute: bool | None, argument: bool | None) -> bool:
    """The call's `deterministic`: the call argument if given, else the attribute."""
    value = attribute if argument is None else argument
    if value is None:
        fail(
            fn,
            "deterministic",
            "True or False (the module has dropout)",
            None,
            "Pass it to the constructor or at call time: deterministic=True for evaluation, "
            "False for training.",
        )
    flag(fn, "deterministic", value)
    return bool(value)


def dropout_rng(fn: str, available: bool, expected: str, actual: str, hint: str) -> None:
    """Check that a call with dropout has a source of dropout randomness (`expected`)."""
    if not available:
        fail(fn, "rngs", expected, actual, hint)


def rngs(fn: str, value: Any, ok: bool, expected: str, hint: str | None = None) -> None:
    """Check the `rngs` a module was given; `ok` says whether it is of an `expected` type."""
    if not ok:
        actual = repr(value) if isinstance(value, int) else type(value).__name__
        fail(fn, "rngs", expected, actual, hint, kind=LSTMTypeError)


def same_tree(fn: str, arg: str, value: Any, current: Any, describe: Any) -> None:
    """Check that `value` has the pytree structure, shapes and dtypes of `current`.

    A different structure is an `LSTMTypeError` whose message shows both trees through
    `describe` (a map from a tree to what the message shows of it); a leaf of another
    shape is an `LSTMValueError`, and one of another dtype an `LSTMTypeError`, naming the
    leaf (`params.weight_ih`).
    """
    if jax.tree.structure(value) != jax.tree.structure(current):
        expected = f"of the module's structure {describe(current)}"
        fail(fn, arg, expected, describe(value), kind=LSTMTypeError)
    paths = jax.tree_util.tree_flatten_with_path(current)[0]
    for (path, old), new in zip(paths, jax.tree.leaves(value), strict=True):
        name = f"{arg}{jax.tree_util.keystr(path)}"
        array(fn, name, new)
        if tuple(new.shape) != tuple(old.shape):
            expected = f"of the module's shape {shape_str(old.shape)}"
            fail(fn, name, expected, f"shape {shape_str(new.shape)}")
        if new.dtype != old.dtype:
            expected = f"of the module's dtype {old.dtype}"
            fail(fn, name, expected, f"dtype {new.dtype}", kind=LSTMTypeError)
