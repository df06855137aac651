"""Keras `LSTM` and `Bidirectional(LSTM)` weights to and from jlstm params.

Keras keeps the gate order i, f, g ("c"), o and one bias, and stores the matrices for
right-multiplication: `kernel = weight_ih.T`, `recurrent_kernel = weight_hh.T`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jlstm._errors import LSTMTypeError, fail
from jlstm._public import public
from jlstm._types import Bidirectional, LSTMParams
from jlstm.convert._common import (
    check_shape,
    direction_names,
    export_arrays,
    gate_rows,
    layers_of,
    make_params,
    no_projection,
    to_numpy,
)

__all__ = ["from_keras", "to_keras"]

_ROLES = ("kernel", "recurrent_kernel", "bias")


@public("jlstm.convert")
def from_keras(weights: Sequence[Any]) -> LSTMParams | Bidirectional | tuple[Any, ...]:
    """Read the `get_weights()` list of a Keras `LSTM` or `Bidirectional(LSTM)` layer.

    Args:
      weights: `[kernel, recurrent_kernel, bias]` of an `LSTM` (no `bias` with
        `use_bias=False`), with `kernel` of shape `(input_size, 4*units)` and
        `recurrent_kernel` of shape `(units, 4*units)`; the forward layer's list followed by
        the backward one's for `Bidirectional`. A list of such lists is read as a stack,
        one per layer.

    Returns:
      `LSTMParams` for an `LSTM`, `Bidirectional` for a `Bidirectional` layer (wrap it as
      `(params,)` to use it as a one-layer stack), as `from_torch` returns one layer; a
      tuple of those for a list of lists, one per layer.

    Example:
      >>> import numpy as np
      >>> from jlstm import convert
      >>> kernel, recurrent_kernel = np.ones((3, 8), np.float32), np.ones((2, 8), np.float32)
      >>> params = convert.from_keras([kernel, recurrent_kernel, np.zeros(8, np.float32)])
      >>> params.weight_ih.shape, params.weight_hh.shape
      ((8, 3), (8, 2))
    """
    fn = "convert.from_keras"
    if not isinstance(weights, list | tuple):
        fail(
            fn,
            "weights",
            "a list of arrays, as `layer.get_weights()` returns",
            type(weights).__name__,
            kind=LSTMTypeError,
        )
    if weights and all(isinstance(layer, list | tuple) for layer in weights):
        return tuple(_read_layer(fn, f"weights[{k}]", layer) for k, layer in enumerate(weights))
    return _read_layer(fn, "weights", weights)


@public("jlstm.convert")
def to_keras(params: Any) -> list[Any]:
    """Write params as the weights list that a Keras layer's `set_weights` accepts.

    Args:
      params: `LSTMParams` (for a Keras `LSTM`), `Bidirectional` (for a Keras
        `Bidirectional(LSTM)`), or a stack tuple of them. Keras has no projection, so
        `weight_hr` must be None; `bias=None` matches `LSTM(use_bias=False)`.

    Returns:
      `[kernel, recurrent_kernel, bias]` NumPy arrays (six for `Bidirectional`: forward,
      then backward; two or four without bias), or a list of such lists for a stack.

    Example:
      >>> import jax
      >>> from jlstm import convert, init_lstm
      >>> params = init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
      >>> [w.shape for w in convert.to_keras(params)]
      [(3, 8), (2, 8), (8,)]
    """
    fn = "convert.to_keras"
    lists = []
    for name, layer in layers_of(fn, params):
        weights: list[Any] = []
        has_bias = []
        for arg, direction in zip(direction_names(name, layer), layer, strict=True):
            weight_ih, weight_hh, bias, weight_hr = export_arrays(fn, arg, direction)
            no_projection(fn, arg, weight_hr, "Keras' LSTM")
            weights += [np.ascontiguousarray(weight_ih.T), np.ascontiguousarray(weight_hh.T)]
            weights += [] if bias is None else [bias]
            has_bias.append(bias is not None)
        if len(set(has_bias)) > 1:
            fail(fn, f"{name}.backward.bias", "set exactly when forward.bias is", "a mismatch")
        lists.append(weights)
    return lists if _is_stack(params) else lists[0]


def _is_stack(params: Any) -> bool:
    return isinstance(params, tuple) and not isinstance(params, LSTMParams | Bidirectional)


def _read_layer(fn: str, arg: str, weights: Sequence[Any]) -> LSTMParams | Bidirectional:
    """Read one Keras layer: one `[kernel, recurrent_kernel(, bias)]` group per direction."""
    count = len(weights)
    if count not in (2, 3, 4, 6):
        fail(
            fn,
            arg,
            "2 or 3 arrays (LSTM: kernel, recurrent_kernel, bias) or 4 or 6 (Bidirectional)",
            f"{count} arrays",
        )
    per_direction = count if count <= 3 else count // 2
    directions = []
    for start in range(0, count, per_direction):

        def read(role: int, start: int = start) -> tuple[str, np.ndarray]:
            label = f"{arg}[{start + role}] ({_ROLES[role]})"
            return label, to_numpy(fn, label, weights[start + role])

        label, recurrent_kernel = read(1)
        hidden_size = gate_rows(fn, label, recurrent_kernel, 1, ("units", "4*units"))
        gates = 4 * hidden_size
        check_shape(fn, label, recurrent_kernel, (hidden_size, gates))
        label, kernel = read(0)
        check_shape(fn, label, kernel, ("input_size", gates))
        bias = None
        if per_direction == 3:
            label, bias = read(2)
            check_shape(fn, label, bias, (gates,))
        directions.append(make_params(kernel.T, recurrent_kernel.T, bias))
    return directions[0] if len(directions) == 1 else Bidirectional(*directions)
