"""PyTorch's `(h_n, c_n)` state layout to and from jlstm's per-layer states.

`torch.nn.LSTM` takes and returns its state as two arrays of shape
`(num_layers * num_directions, batch, size)`, whatever `batch_first` is: the forward
direction of layer 0, its backward direction, then layer 1, ... `h` has `proj_size`
features with a projection and `hidden_size` otherwise; `c` always has `hidden_size`.
jlstm keeps one state per layer, in the structure of the params (see `from_torch_state`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlstm._errors import LSTMTypeError, fail, shape_str
from jlstm._public import public
from jlstm._types import Bidirectional, LSTMParams, LSTMState
from jlstm._validation import BARE_STATE_HINT, state_type
from jlstm.convert._common import direction_names, layers_of, to_numpy

__all__ = ["from_torch_state", "to_torch_state"]


def _sizes(params: LSTMParams) -> tuple[int, int]:
    """`(out_size, hidden_size)` of one direction: the features of its `h` and `c`."""
    out_size = params.weight_hh.shape[1]
    hidden_size = out_size if params.weight_hr is None else params.weight_hr.shape[1]
    return out_size, hidden_size


def _read(fn: str, arg: str, value: Any) -> Any:
    # jax arrays (and tracers) stay as they are, so that this also runs under jax.jit.
    return value if isinstance(value, jax.Array) else jnp.asarray(to_numpy(fn, arg, value))


@public("jlstm.convert")
def from_torch_state(h_n: Any, c_n: Any, params: Any) -> Any:
    """Split PyTorch's `(h_n, c_n)` into jlstm states for `params`.

    The states have the structure of `params`, as `jlstm.lstm`, `jlstm.bidirectional`
    and `jlstm.stack` take them: an `LSTMState` for an `LSTMParams`, a `Bidirectional`
    of two for a `Bidirectional`, and for a stack tuple a tuple with one of those per
    layer. Torch tensors are read without importing torch; jax arrays are sliced as they
    are (so it works under `jax.jit`).

    Args:
      h_n: `(num_layers * num_directions, *batch, out_size)`, `out_size` being
        `proj_size` with a projection, else `hidden_size` (PyTorch's `h_0` / `h_n`).
      c_n: `(num_layers * num_directions, *batch, hidden_size)`.
      params: `LSTMParams`, a `Bidirectional` or a stack tuple, e.g. from
        `jlstm.convert.from_torch`.

    Returns:
      The states, of `h_n`'s dtype (as `jnp.asarray` reads it).

    Example:
      >>> import jax, numpy as np, jlstm
      >>> from jlstm import convert
      >>> params = jlstm.init_stack(jax.random.key(0), 3, 4, num_layers=2, bidirectional=True)
      >>> h_0 = np.zeros((4, 5, 4), np.float32)  # (layers * directions, batch, hidden)
      >>> states = convert.from_torch_state(h_0, np.ones((4, 5, 4), np.float32), params)
      >>> len(states), states[1].backward.c.shape
      (2, (5, 4))
      >>> _, ys = jlstm.stack(params, np.zeros((5, 7, 3), np.float32), states)
      >>> ys.shape
      (5, 7, 8)
    """
    fn = "convert.from_torch_state"
    layers = layers_of(fn, params)
    h_n, c_n = _read(fn, "h_n", h_n), _read(fn, "c_n", c_n)
    count = sum(len(layer) for _, layer in layers)
    for arg, array in (("h_n", h_n), ("c_n", c_n)):
        if array.ndim < 2 or array.shape[0] != count:
            fail(
                fn,
                arg,
                f"of shape ({count}, *batch, size): one row per layer and direction of params",
                f"shape {shape_str(array.shape)}",
            )
    if h_n.shape[1:-1] != c_n.shape[1:-1]:
        expected = f"of the batch shape of h_n, {shape_str(h_n.shape[1:-1])}"
        fail(fn, "c_n", expected, f"shape {shape_str(c_n.shape)}")
    row = 0
    states = []
    for name, layer in layers:
        directions = []
        for arg, direction in zip(direction_names(name, layer), layer, strict=True):
            for array_name, array, size in zip(
                ("h_n", "c_n"), (h_n, c_n), _sizes(direction), strict=True
            ):
                if array.shape[-1] != size:
                    fail(
                        fn,
                        array_name,
                        f"of {size} features in row {row} (from {arg})",
                        f"shape {shape_str(array.shape)}",
                    )
            directions.append(LSTMState(h=h_n[row], c=c_n[row]))
            row += 1
        states.append(Bidirectional(*directions) if len(directions) == 2 else directions[0])
    return tuple(states) if _is_stack(params) else states[0]


@public("jlstm.convert")
def to_torch_state(states: Any) -> tuple[np.ndarray, np.ndarray]:
    """Stack jlstm states into PyTorch's `(h_n, c_n)` NumPy arrays.

    The inverse of `from_torch_state`: the rows are the layers in order, forward before
    backward, as `torch.nn.LSTM` takes `(h_0, c_0)` and returns `(h_n, c_n)`.

    Args:
      states: an `LSTMState`, a `Bidirectional` of two, or a tuple with one of those per
        layer (the final states that `jlstm.stack` returns). Every `h` must have one
        shape, and every `c`.

    Returns:
      `(h_n, c_n)`, writable NumPy arrays of shape `(rows, *batch, size)`; hand them to
      torch with `torch.from_numpy`.

    Example:
      >>> import numpy as np, jlstm
      >>> from jlstm import convert
      >>> state = jlstm.LSTMState(h=np.ones((5, 4), np.float32), c=np.zeros((5, 4), np.float32))
      >>> h_n, c_n = convert.to_torch_state((jlstm.Bidirectional(state, state), state))
      >>> h_n.shape
      (3, 5, 4)
    """
    fn = "convert.to_torch_state"
    layers = tuple(states) if _is_stack(states) else (states,)
    names = [f"states[{k}]" for k in range(len(layers))] if _is_stack(states) else ["states"]
    expected = "an LSTMState, a Bidirectional or a non-empty tuple of them"
    if not layers:
        fail(fn, "states", expected, "()", kind=LSTMTypeError)
    if _is_stack(states) and all(hasattr(layer, "shape") for layer in layers):
        actual = f"a {type(states).__name__} of {len(layers)} arrays"
        fail(fn, "states", expected, actual, BARE_STATE_HINT, kind=LSTMTypeError)
    rows: list[tuple[str, LSTMState]] = []
    for name, layer in zip(names, layers, strict=True):
        if isinstance(layer, Bidirectional):
            rows += [(f"{name}.forward", layer.forward), (f"{name}.backward", layer.backward)]
        else:
            rows.append((name, layer))
    for name, state in rows:
        state_type(fn, name, state)
    arrays = []
    for field in ("h", "c"):
        leaves = [(f"{name}.{field}", np.asarray(getattr(state, field))) for name, state in rows]
        first_name, first = leaves[0]
        for name, leaf in leaves[1:]:
            if leaf.shape != first.shape:
                fail(
                    fn,
                    name,
                    f"of shape {shape_str(first.shape)} like {first_name}",
                    f"shape {shape_str(leaf.shape)}",
                    "PyTorch keeps every layer's state in one array.",
                )
        arrays.append(np.stack([leaf for _, leaf in leaves]))
    return arrays[0], arrays[1]


def _is_stack(value: Any) -> bool:
    return isinstance(value, tuple | list) and not isinstance(
        value, LSTMParams | LSTMState | Bidirectional
    )
