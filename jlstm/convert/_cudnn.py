"""The flat cuDNN weight vector of `jax.experimental.rnn` to and from jlstm params.

`jax.experimental.rnn.lstm` takes one 1-D vector. With the pseudo-layers ordered layer 0
forward, layer 0 backward, layer 1 forward, ..., it holds every pseudo-layer's `W_ih`
then `W_hh` (PyTorch layout, row-major), followed by every pseudo-layer's `b_ih` then
`b_hh` (see `jax.experimental.rnn.unpack_lstm_weights`). Layers after the first read the
concatenated directions, `num_directions * hidden_size` features.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlstm._errors import fail, shape_str
from jlstm._public import public
from jlstm._types import Bidirectional, LSTMParams
from jlstm._validation import size
from jlstm.convert._common import (
    direction_names,
    export_arrays,
    layers_of,
    make_params,
    no_projection,
    stack_from,
    to_numpy,
)

__all__ = ["from_cudnn", "to_cudnn"]


@public("jlstm.convert")
def from_cudnn(
    weights: Any,
    input_size: int,
    hidden_size: int,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
) -> LSTMParams | Bidirectional | tuple[Any, ...]:
    """Read the flat weight vector of `jax.experimental.rnn.lstm`.

    The sizes are those passed to `jax.experimental.rnn.lstm` (the vector alone does not
    determine them). Each layer's two biases become jlstm's one bias, `b_ih + b_hh`.

    Args:
      weights: 1-D array, e.g. from `jax.experimental.rnn.init_lstm_weight`.
      input_size: features of the first layer's input.
      hidden_size: features of `h` and `c` in every layer.
      num_layers: number of stacked layers.
      bidirectional: whether each layer runs in both directions.

    Returns:
      `LSTMParams` for one unidirectional layer, `Bidirectional` for one bidirectional
      layer, else a stack tuple with one `LSTMParams` or `Bidirectional` per layer (the
      structure of `jlstm.convert.from_torch`).

    Example:
      >>> import numpy as np
      >>> from jlstm import convert
      >>> weights = np.zeros(8 * 3 + 8 * 2 + 2 * 8, np.float32)  # W_ih, W_hh, b_ih, b_hh
      >>> params = convert.from_cudnn(weights, input_size=3, hidden_size=2)
      >>> params.weight_ih.shape, params.weight_hh.shape, params.bias.shape
      ((8, 3), (8, 2), (8,))
    """
    fn = "convert.from_cudnn"
    size(fn, "input_size", input_size)
    size(fn, "hidden_size", hidden_size)
    size(fn, "num_layers", num_layers)
    directions = 2 if bidirectional else 1
    shapes = _shapes(input_size, hidden_size, num_layers, directions)
    biases_size = len(shapes) * 2 * 4 * hidden_size
    expected = sum(math.prod(shape) for pair in shapes for shape in pair) + biases_size
    vector = to_numpy(fn, "weights", weights)
    if vector.shape != (expected,):
        fail(
            fn,
            "weights",
            f"of shape ({expected},) for input_size={input_size}, hidden_size={hidden_size}, "
            f"num_layers={num_layers}, bidirectional={bidirectional}",
            f"shape {shape_str(vector.shape)}",
        )
    offset = 0
    matrices = []
    for pair in shapes:  # the weights of all pseudo-layers come first ...
        for shape in pair:
            matrices.append(vector[offset : offset + math.prod(shape)].reshape(shape))
            offset += math.prod(shape)
    biases = vector[offset:].reshape(len(shapes), 2, 4 * hidden_size)  # ... then the biases
    pseudo = [
        make_params(matrices[2 * p], matrices[2 * p + 1], biases[p, 0] + biases[p, 1])
        for p in range(len(shapes))
    ]
    return stack_from(
        [tuple(pseudo[k : k + directions]) for k in range(0, len(pseudo), directions)]
    )


@public("jlstm.convert")
def to_cudnn(params: Any) -> jax.Array:
    """Write params as the flat weight vector of `jax.experimental.rnn.lstm`.

    jlstm's one bias goes to `b_ih` and zeros go to `b_hh` (`bias=None` writes zeros to
    both): the same function, but a vector converted in and out again holds
    `b_ih + b_hh` and zeros.

    Args:
      params: `LSTMParams`, `Bidirectional`, or a stack tuple of them, as cuDNN runs
        them: one hidden_size, no projection, all layers bidirectional or none, and
        each layer after the first reading `num_directions * hidden_size` features.

    Returns:
      A 1-D jax array. Call `jax.experimental.rnn.lstm` with `input_size` =
      `weight_ih.shape[1]` of the first layer, `hidden_size` = `weight_hh.shape[1]`,
      `num_layers` = the number of layers and `bidirectional` as the layers are.

    Example:
      >>> import jax
      >>> from jlstm import convert, init_lstm
      >>> params = init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
      >>> convert.to_cudnn(params).shape  # 8*3 + 8*2 + 8 + 8
      (56,)
    """
    fn = "convert.to_cudnn"
    layers = layers_of(fn, params)
    directions = len(layers[0][1])
    matrices: list[np.ndarray] = []
    biases: list[np.ndarray] = []
    hidden_size = None
    for k, (name, layer) in enumerate(layers):
        if len(layer) != directions:
            fail(
                fn,
                name,
                "a Bidirectional" if directions == 2 else "an LSTMParams",
                "a Bidirectional" if directions == 1 else "an LSTMParams",
                "cuDNN runs all layers bidirectional or none.",
            )
        for arg, direction in zip(direction_names(name, layer), layer, strict=True):
            weight_ih, weight_hh, bias, weight_hr = export_arrays(fn, arg, direction)
            no_projection(fn, arg, weight_hr, "cuDNN's LSTM")
            hidden_size = weight_hh.shape[1] if hidden_size is None else hidden_size
            if weight_hh.shape != (4 * hidden_size, hidden_size):
                fail(
                    fn,
                    f"{arg}.weight_hh",
                    f"of shape {(4 * hidden_size, hidden_size)}",
                    f"shape {shape_str(weight_hh.shape)}",
                    "cuDNN has one hidden_size.",
                )
            if k and weight_ih.shape[1] != directions * hidden_size:
                fail(
                    fn,
                    f"{arg}.weight_ih",
                    f"of shape {(4 * hidden_size, directions * hidden_size)}",
                    f"shape {shape_str(weight_ih.shape)}",
                    "Layers after the first read the previous layer's output.",
                )
            zeros = np.zeros(4 * hidden_size, weight_ih.dtype)
            matrices += [weight_ih.ravel(), weight_hh.ravel()]
            biases += [zeros if bias is None else bias, zeros]
    return jnp.asarray(np.concatenate(matrices + biases))


def _shapes(
    input_size: int, hidden_size: int, num_layers: int, directions: int
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """`(W_ih, W_hh)` shapes of each pseudo-layer, in the order of the vector."""
    gates = 4 * hidden_size
    return [
        ((gates, input_size if k == 0 else directions * hidden_size), (gates, hidden_size))
        for k in range(num_layers)
        for _ in range(directions)
    ]
