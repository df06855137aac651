"""The converters of formats that hold stacks: PyTorch, Keras and cuDNN.

- PyTorch's `nn.LSTM` state dict keeps jlstm's layout (`weight_ih` of shape
  `(4*hidden, input)`, gates i, f, g, o) with two biases, `bias_ih` and `bias_hh`, that
  always appear as a sum;
- Keras keeps the gate order i, f, g ("c"), o and one bias, and stores the matrices for
  right-multiplication: `kernel = weight_ih.T`, `recurrent_kernel = weight_hh.T`;
- `jax.experimental.rnn.lstm` takes one 1-D vector. With the pseudo-layers ordered layer
  0 forward, layer 0 backward, layer 1 forward, ..., it holds every pseudo-layer's `W_ih`
  then `W_hh` (PyTorch layout, row-major), followed by every pseudo-layer's `b_ih` then
  `b_hh` (see `jax.experimental.rnn.unpack_lstm_weights`). Layers after the first read
  the concatenated directions, `num_directions * hidden_size` features.

Each is a description in `_formats` (`TORCH`, `TORCH_CELL`, `KERAS`, `CUDNN`), read and
written by `_engine` through a container of `_containers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from jlstm._public import public
from jlstm._types import Bidirectional, LSTMParams
from jlstm._validation import foreign
from jlstm.convert import _containers, _engine
from jlstm.convert._formats import CUDNN, KERAS, TORCH, TORCH_CELL

__all__ = ["from_cudnn", "from_keras", "from_torch", "to_cudnn", "to_keras", "to_torch"]


@public("jlstm.convert")
def from_torch(
    state_dict: Mapping[str, Any], *, prefix: str = ""
) -> LSTMParams | Bidirectional | tuple[Any, ...]:
    """Read the `state_dict()` of a `torch.nn.LSTM` or `torch.nn.LSTMCell`.

    Any `num_layers`, `bidirectional`, `proj_size` and `bias=False` are understood; the
    two biases become jlstm's one bias, `bias_ih + bias_hh`. Values may be torch tensors
    (read without importing torch) or any array NumPy accepts.

    Args:
      state_dict: maps `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}`,
        `weight_hr_l{k}` (each optionally with `_reverse`), or the bare names of
        `nn.LSTMCell`, to arrays.
      prefix: read only the keys that start with it, e.g. `"encoder.lstm."` for the
        LSTM inside a bigger model; other keys are then ignored.

    Returns:
      `LSTMParams` for one unidirectional layer (or a cell), `Bidirectional` for one
      bidirectional layer (as `jlstm.bidirectional` takes it), else a stack: a tuple
      with one `LSTMParams` or `Bidirectional` per layer. Wrap one layer as `(params,)`
      to run it with `jlstm.stack`.

    Example:
      >>> import numpy as np
      >>> from jlstm import convert
      >>> state_dict = {
      ...     "weight_ih_l0": np.zeros((8, 3), np.float32),  # (4*hidden, input)
      ...     "weight_hh_l0": np.zeros((8, 2), np.float32),
      ...     "bias_ih_l0": np.ones(8, np.float32),
      ...     "bias_hh_l0": np.ones(8, np.float32),
      ... }
      >>> params = convert.from_torch(state_dict)
      >>> params.weight_ih.shape, params.bias[:3]
      ((8, 3), Array([2., 2., 2.], dtype=float32))
    """
    fn = "convert.from_torch"
    fmt, layers = _containers.read_keys(fn, TORCH, TORCH_CELL, state_dict, prefix)
    return _engine.read_stack(fn, fmt, layers)


@public("jlstm.convert")
def to_torch(params: Any, *, cell: bool = False) -> dict[str, np.ndarray]:
    """Write params as a `torch.nn.LSTM` (or `torch.nn.LSTMCell`) state dict of NumPy arrays.

    jlstm's one bias goes to `bias_ih` and zeros go to `bias_hh`: the same function, but
    a PyTorch state dict converted in and out again holds `bias_ih + bias_hh` and zeros,
    not the original split. This is the one lossy step of the converters. Params
    without bias (`bias=None`) give no bias keys, as `nn.LSTM(bias=False)` expects.

    Args:
      params: `LSTMParams`, a `Bidirectional`, or a stack tuple of them. PyTorch needs
        every layer alike: all bidirectional or none, one hidden_size, one proj_size, and
        bias in all layers or none.
      cell: write the keys of `torch.nn.LSTMCell` (one `LSTMParams`, no projection).

    Returns:
      `{key: numpy.ndarray}`; load it with
      `module.load_state_dict({k: torch.from_numpy(v) for k, v in d.items()})`.

    Example:
      >>> import jax
      >>> from jlstm import convert, init_lstm
      >>> params = init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
      >>> {key: value.shape for key, value in convert.to_torch(params).items()}
      {'weight_ih_l0': (8, 3), 'weight_hh_l0': (8, 2), 'bias_ih_l0': (8,), 'bias_hh_l0': (8,)}
    """
    fn = "convert.to_torch"
    foreign.options(fn, {}, {"cell": cell})
    fmt = TORCH_CELL if cell else TORCH
    return _containers.write_keys(fmt, _engine.write(fn, fmt, params, single=bool(cell)))


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
    layers, nested = _containers.read_list(fn, KERAS, weights)
    return _engine.read_stack(fn, KERAS, layers, stack=nested)


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
    stack = _engine.write("convert.to_keras", KERAS, params)
    return _containers.write_list(KERAS, stack, nested=_engine.is_stack(params))


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
    sizes = {"input_size": input_size, "hidden_size": hidden_size, "num_layers": num_layers}
    layers = _containers.read_vector(fn, CUDNN, weights, sizes, bidirectional)
    return _engine.read_stack(fn, CUDNN, layers)


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
    return _containers.write_vector(CUDNN, _engine.write("convert.to_cudnn", CUDNN, params))
