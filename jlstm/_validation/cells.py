"""Checks of the cells that `jlstm.scan` runs: any `(params, state, x) -> (state, y)`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jlstm._errors import LSTMTypeError, fail, shape_str


def cell(fn: str, value: Any, params: Any, state: Any, x: jax.ShapeDtypeStruct) -> Any:
    """Check a cell `(params, state, x) -> (state, y)` and return the shapes of its `y`.

    One step is traced (nothing is computed) to check that the state keeps its structure,
    shapes and dtypes.
    """
    if not callable(value):
        fail(
            fn,
            "cell",
            "a callable (params, state, x) -> (state, y)",
            repr(value),
            kind=LSTMTypeError,
        )
    new, y = jax.eval_shape(value, params, state, x)
    expected, actual = _shapes(state), _shapes(new)
    if jax.tree.structure(state) != jax.tree.structure(new) or expected != actual:
        fail(
            fn,
            "cell",
            f"a cell that returns a state like the one it takes: {expected}",
            actual,
            "The carried state must keep its structure, shapes and dtypes at every step.",
            kind=LSTMTypeError,
        )
    return y


def _shapes(tree: Any) -> Any:
    """`tree` with each array as its shape and dtype name: `'(2, 4) float32'`."""
    return jax.tree.map(lambda a: f"{shape_str(a.shape)} {jnp.dtype(a.dtype).name}", tree)
