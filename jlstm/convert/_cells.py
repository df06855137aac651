"""The converters of formats that hold one cell: Flax and Equinox.

Flax keeps one Dense block per gate and input: `ii, if, ig, io` map the input (kernel
only), `hi, hf, hg, ho` map `h` (kernel and bias), each kernel of shape `(in, hidden)` for
right-multiplication. Linen's `OptimizedLSTMCell` stores the same eight blocks; NNX's
`LSTMCell` names the forget block `if_` and NNX's `OptimizedLSTMCell` stores two fused
blocks, `dense_i` and `dense_h`, with gates i, f, g, o along the last axis.

Equinox uses jlstm's layout exactly: `weight_ih (4*hidden, input)`, `weight_hh
(4*hidden, hidden)`, one `bias (4*hidden,)` or None, gates i, f, g, o, state `(h, c)`.
The cell is read and written as a pytree, so Equinox itself is never imported.

Each is a description in `_formats` (`FLAX`, `EQUINOX`), read and written by `_engine`
through a container of `_containers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from jlstm._public import public
from jlstm._types import LSTMParams
from jlstm._validation import conversions, foreign
from jlstm.convert import _containers, _engine
from jlstm.convert._formats import EQUINOX, FLAX

__all__ = ["from_equinox", "from_flax", "to_equinox", "to_flax"]

Cell = TypeVar("Cell")
Layout = Literal["linen", "nnx", "nnx_optimized"]


@public("jlstm.convert")
def from_flax(variables: Mapping[str, Any]) -> LSTMParams:
    """Read the params of a Flax `LSTMCell` or `OptimizedLSTMCell`, linen or NNX.

    Args:
      variables: linen `cell.init(...)` variables (or their `"params"` entry), or an NNX
        cell's `nnx.state(cell, nnx.Param)` (an `nnx.State` or its pure dict).

    Returns:
      `LSTMParams` with `weight_ih` of shape `(4*hidden, input)`, `weight_hh` of shape
      `(4*hidden, hidden)` and Flax's recurrent bias as `bias`.

    Example:
      >>> import numpy as np
      >>> from jlstm import convert
      >>> params = {"ii": {"kernel": np.ones((3, 2), np.float32)}}  # (input, hidden)
      >>> params |= {f"i{g}": {"kernel": np.zeros((3, 2), np.float32)} for g in "fgo"}
      >>> params |= {
      ...     f"h{g}": {"kernel": np.zeros((2, 2), np.float32), "bias": np.zeros(2, np.float32)}
      ...     for g in "ifgo"
      ... }
      >>> convert.from_flax({"params": params}).weight_ih[:, 0]
      Array([1., 1., 0., 0., 0., 0., 0., 0.], dtype=float32)
    """
    fn = "convert.from_flax"
    fmt, source = _containers.read_tree(fn, FLAX.values(), variables)
    return _engine.read(fn, fmt, source)


@public("jlstm.convert")
def to_flax(params: LSTMParams, *, layout: Layout = "linen") -> dict[str, Any]:
    """Write `LSTMParams` as the params of a Flax `LSTMCell` or `OptimizedLSTMCell`.

    Flax has no projection (`weight_hr` must be None) and always a bias: `bias=None` is
    written as zeros, the same function.

    Args:
      params: one `LSTMParams`.
      layout: `"linen"` for linen's `LSTMCell` and `OptimizedLSTMCell` (they share one
        layout), `"nnx"` for `nnx.LSTMCell`, `"nnx_optimized"` for `nnx.OptimizedLSTMCell`.

    Returns:
      For linen, variables `{"params": {...}}` for `cell.apply`; for NNX, the pure dict
      of the cell's params for `nnx.update(cell, ...)`. Leaves are jax arrays.

    Example:
      >>> import jax
      >>> from jlstm import convert, init_lstm
      >>> params = init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
      >>> variables = convert.to_flax(params)
      >>> variables["params"]["ii"]["kernel"].shape, variables["params"]["hf"]["bias"]
      ((3, 2), Array([1., 1.], dtype=float32))
    """
    fn = "convert.to_flax"
    foreign.choice(fn, "layout", layout, list(FLAX))
    fmt = FLAX[layout]
    [[stored]] = _engine.write(fn, fmt, params, single=True)
    return _containers.write_tree(fmt, stored)


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
    return _engine.read(fn, EQUINOX, _containers.read_attributes(fn, EQUINOX, cell))


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
    source = _containers.read_attributes(fn, EQUINOX, cell)
    target = _engine.read(fn, EQUINOX, source)  # the cell's own weights must be an LSTM's
    zero_bias = target.bias is not None
    [[stored]] = _engine.write(fn, EQUINOX, params, single=True, zero_bias=zero_bias)
    old = {key: raw for key, (_, raw) in source.arrays.items()}
    conversions.template(fn, stored, old, "Build the cell with use_bias=True.")
    return _containers.write_attributes(fn, EQUINOX, cell, stored)
