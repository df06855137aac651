"""Equinox `nn.LSTMCell` fields to and from jlstm params.

Equinox uses jlstm's layout exactly: `weight_ih (4*hidden, input)`, `weight_hh
(4*hidden, hidden)`, one `bias (4*hidden,)` or None, gates i, f, g, o, state `(h, c)`.
The cell is read and written as a pytree, so Equinox itself is never imported.
"""

from __future__ import annotations

from typing import Any, TypeVar

import jax
import jax.numpy as jnp

from jlstm._errors import LSTMTypeError, fail
from jlstm._public import public
from jlstm._types import LSTMParams
from jlstm.convert._common import (
    check_shape,
    export_arrays,
    gate_rows,
    make_params,
    no_projection,
    to_numpy,
)

__all__ = ["from_equinox", "to_equinox"]

Cell = TypeVar("Cell")
_FIELDS = ("weight_ih", "weight_hh", "bias")


@public("jlstm.convert")
def from_equinox(cell: Any) -> LSTMParams:
    """Read the weights of an `equinox.nn.LSTMCell`.

    Args:
      cell: the cell, or any object with `weight_ih`, `weight_hh` and `bias` attributes.

    Returns:
      `LSTMParams(weight_ih, weight_hh, bias)`; `bias` is None for `use_bias=False`.

    Example:
      >>> import types, numpy as np
      >>> from jlstm import convert
      >>> cell = types.SimpleNamespace(  # stands in for equinox.nn.LSTMCell(3, 2, key=...)
      ...     weight_ih=np.ones((8, 3), np.float32),
      ...     weight_hh=np.ones((8, 2), np.float32),
      ...     bias=None,
      ... )
      >>> params = convert.from_equinox(cell)
      >>> params.weight_hh.shape, params.bias
      ((8, 2), None)
    """
    fn = "convert.from_equinox"
    for field in _FIELDS:
        if not hasattr(cell, field):
            fail(
                fn,
                "cell",
                f"an equinox.nn.LSTMCell (with a `{field}` field)",
                type(cell).__name__,
                kind=LSTMTypeError,
            )
    weight_ih = to_numpy(fn, "cell.weight_ih", cell.weight_ih)
    hidden_size = gate_rows(fn, "cell.weight_ih", weight_ih, 0, ("4*hidden_size", "input_size"))
    gates = 4 * hidden_size
    weight_hh = to_numpy(fn, "cell.weight_hh", cell.weight_hh)
    check_shape(fn, "cell.weight_hh", weight_hh, (gates, hidden_size))
    bias = None
    if cell.bias is not None:
        bias = to_numpy(fn, "cell.bias", cell.bias)
        check_shape(fn, "cell.bias", bias, (gates,))
    return make_params(weight_ih, weight_hh, bias)


@public("jlstm.convert")
def to_equinox(params: LSTMParams, cell: Cell) -> Cell:
    """Return a copy of an `equinox.nn.LSTMCell` that holds the weights of `params`.

    Equinox cells are immutable and built with a key, so the target cell is given (its
    weights are replaced, like `equinox.tree_at` does). A cell with `use_bias=True` takes
    `bias=None` as zeros; one without a bias cannot take a bias.

    Args:
      params: one `LSTMParams` without projection, of the cell's sizes.
      cell: an `equinox.nn.LSTMCell` of the same `input_size` and `hidden_size`.

    Returns:
      A cell of the same type and static fields, with jax-array weights from `params`.

    Example:
      >>> from typing import NamedTuple
      >>> import jax, numpy as np
      >>> from jlstm import convert, init_lstm
      >>> class Cell(NamedTuple):  # a pytree with the fields of equinox.nn.LSTMCell(3, 2)
      ...     weight_ih: np.ndarray
      ...     weight_hh: np.ndarray
      ...     bias: np.ndarray
      >>> old = Cell(np.zeros((8, 3), np.float32), np.zeros((8, 2), np.float32), np.zeros(8))
      >>> params = init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
      >>> convert.to_equinox(params, old).bias
      Array([0., 0., 1., 1., 0., 0., 0., 0.], dtype=float32)
    """
    fn = "convert.to_equinox"
    weight_ih, weight_hh, bias, weight_hr = export_arrays(fn, "params", params)
    no_projection(fn, "params", weight_hr, "equinox.nn.LSTMCell")
    target = from_equinox(cell)
    if target.bias is None and bias is not None:
        fail(
            fn,
            "params.bias",
            "None for a cell without bias",
            "an array",
            "Build the cell with use_bias=True.",
        )
    if target.bias is not None and bias is None:
        bias = jnp.zeros(weight_ih.shape[0], weight_ih.dtype)
    new = {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias": bias}
    for field in _FIELDS:
        old = getattr(target, field)
        if old is not None and old.shape != new[field].shape:
            check_shape(fn, f"params.{field}", new[field], old.shape)
    return _replace_fields(cell, {k: jnp.asarray(v) for k, v in new.items() if v is not None})


def _replace_fields(cell: Cell, values: dict[str, jax.Array]) -> Cell:
    """Swap the pytree leaves stored at `cell.<name>` for `values[name]`, like `eqx.tree_at`."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(cell)
    names = [getattr(path[0], "name", None) if len(path) == 1 else None for path, _ in leaves]
    if not set(values) <= set(names):
        fail(
            "convert.to_equinox",
            "cell",
            "a pytree with the leaves cell.weight_ih, cell.weight_hh (and cell.bias)",
            type(cell).__name__,
            "Pass an equinox.nn.LSTMCell.",
            kind=LSTMTypeError,
        )
    replaced = [values.get(name, leaf) for name, (_, leaf) in zip(names, leaves, strict=True)]
    return jax.tree_util.tree_unflatten(treedef, replaced)
