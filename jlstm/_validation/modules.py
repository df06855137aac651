"""Checks of the Flax modules' options (`jlstm.flax.LSTM`, `jlstm.flax.NNXLSTM`).

Plain Python and JAX: the modules pass their attributes, so this needs no Flax.
"""

from __future__ import annotations

from typing import Any

import jax

from jlstm._errors import LSTMTypeError, fail
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


def dropout_rng(fn: str, available: bool, expected: str, hint: str) -> None:
    """Check that a call with dropout has a source of dropout randomness (`expected`)."""
    if not available:
        fail(fn, "rngs", expected, "none", hint)


def rngs(fn: str, value: Any, ok: bool, expected: str, hint: str | None = None) -> None:
    """Check the `rngs` a module was given; `ok` says whether it is of an `expected` type."""
    if not ok:
        actual = repr(value) if isinstance(value, int) else type(value).__name__
        fail(fn, "rngs", expected, actual, hint, kind=LSTMTypeError)


def same_tree(fn: str, arg: str, value: Any, current: Any, describe: Any) -> None:
    """Check that `value` has the pytree structure, shapes and dtypes of `current`.

    `describe` maps a tree to what the message shows of it.
    """
    same = jax.tree.structure(value) == jax.tree.structure(current) and all(
        (new.shape, new.dtype) == (old.shape, old.dtype)
        for new, old in zip(jax.tree.leaves(value), jax.tree.leaves(current), strict=True)
    )
    if not same:
        expected = f"of the module's structure and shapes {describe(current)}"
        fail(fn, arg, expected, describe(value))
