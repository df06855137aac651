"""Foreign state layouts to and from jlstm's `LSTMState`s, read by their `carry` order.

`torch.nn.LSTM` takes and returns its state as two arrays (`TORCH.carry`: `h_n`, then
`c_n`) of shape `(num_layers * num_directions, batch, size)`, whatever `batch_first` is:
the forward direction of layer 0, its backward direction, then layer 1, ... `h` has
`proj_size` features with a projection and `hidden_size` otherwise; `c` always has
`hidden_size`. A Flax LSTM carry is one cell's `(c, h)` (`FLAX_LINEN.carry`). jlstm keeps
one `LSTMState(h, c)` per direction, in the structure of the params.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlstm._public import public
from jlstm._types import Bidirectional, LSTMState
from jlstm._validation import conversions, foreign, state_type
from jlstm.convert import _engine
from jlstm.convert._formats import FLAX_LINEN, TORCH

__all__ = ["from_torch_state", "state_from_flax", "state_to_flax", "to_torch_state"]


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
    layers = conversions.layers(fn, params)
    arrays = [
        (arg, _read(fn, arg, value))
        for (_, arg), value in zip(TORCH.carry, (h_n, c_n), strict=True)
    ]
    directions = [direction for _, layer in layers for direction in layer]
    sizes = [_engine.state_sizes(params_d) for _, params_d in directions]
    features = [[size[field] for field, _ in TORCH.carry] for size in sizes]
    conversions.state_rows(
        fn, arrays, list(zip([arg for arg, _ in directions], features, strict=True))
    )
    fields = [field for field, _ in TORCH.carry]
    rows = iter(
        LSTMState(**{f: array[row] for f, (_, array) in zip(fields, arrays, strict=True)})
        for row in range(len(directions))
    )
    items = [_layer([next(rows) for _ in layer]) for _, layer in layers]
    return tuple(items) if _engine.is_stack(params) else items[0]


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
    rows = conversions.state_layers(fn, states, _engine.is_stack(states))
    hint = f"{TORCH.family} keeps every layer's state in one array."
    arrays = []
    for field, _ in TORCH.carry:
        leaves = [(f"{name}.{field}", np.asarray(getattr(state, field))) for name, state in rows]
        conversions.same_shapes(fn, leaves, hint)
        arrays.append(np.stack([leaf for _, leaf in leaves]))
    first, second = arrays
    return first, second


@public("jlstm.convert")
def state_from_flax(carry: tuple[jax.Array, jax.Array]) -> LSTMState:
    """Turn a Flax LSTM carry `(c, h)` into `LSTMState(h, c)`; works under `jax.jit`.

    Example:
      >>> import jax.numpy as jnp
      >>> from jlstm import convert
      >>> state = convert.state_from_flax((jnp.zeros(3), jnp.ones(3)))  # (c, h)
      >>> state.h
      Array([1., 1., 1.], dtype=float32)
    """
    order = FLAX_LINEN.carry
    expected = f"a {FLAX_LINEN.family} carry ({', '.join(name for _, name in order)})"
    conversions.carry("convert.state_from_flax", "carry", carry, expected, len(order))
    return LSTMState(**{field: value for (field, _), value in zip(order, carry, strict=True)})


@public("jlstm.convert")
def state_to_flax(state: LSTMState) -> tuple[jax.Array, jax.Array]:
    """Turn `LSTMState(h, c)` into a Flax LSTM carry `(c, h)`; works under `jax.jit`.

    Example:
      >>> import jax.numpy as jnp
      >>> from jlstm import LSTMState, convert
      >>> c, h = convert.state_to_flax(LSTMState(h=jnp.ones(3), c=jnp.zeros(3)))
      >>> c
      Array([0., 0., 0.], dtype=float32)
    """
    state_type("convert.state_to_flax", "state", state)
    first, second = (getattr(state, field) for field, _ in FLAX_LINEN.carry)
    return first, second


def _layer(states: list[LSTMState]) -> LSTMState | Bidirectional:
    return Bidirectional(*states) if len(states) == 2 else states[0]


def _read(fn: str, arg: str, value: Any) -> Any:
    """A foreign state array; jax arrays (and tracers) stay as they are, for `jax.jit`."""
    return value if isinstance(value, jax.Array) else jnp.asarray(foreign.array(fn, arg, value))
