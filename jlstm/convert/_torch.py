"""PyTorch `nn.LSTM` and `nn.LSTMCell` state dicts to and from jlstm params.

PyTorch stores the layout jlstm uses (`weight_ih` of shape `(4*hidden, input)`, gates
i, f, g, o) with two biases, `bias_ih` and `bias_hh`, that always appear as a sum.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np

from jlstm._errors import LSTMTypeError, fail
from jlstm._public import public
from jlstm._types import Bidirectional, LSTMParams
from jlstm.convert._common import (
    Layer,
    check_shape,
    direction_names,
    export_arrays,
    gate_rows,
    layers_of,
    make_params,
    no_projection,
    stack_from,
    to_numpy,
)

__all__ = ["from_torch", "to_torch"]

# `weight_ih_l0`, `bias_hh_l2_reverse`, ... of nn.LSTM; the bare names are nn.LSTMCell's.
_KEY = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)(?:_l(\d+)(_reverse)?)?")


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
    if not isinstance(state_dict, Mapping):
        fail(fn, "state_dict", "a mapping", type(state_dict).__name__, kind=LSTMTypeError)
    arrays = {
        str(key)[len(prefix) :]: value
        for key, value in state_dict.items()
        if not prefix or str(key).startswith(prefix)
    }
    if not arrays:
        wanted = f"keys starting with {prefix!r}" if prefix else "keys"
        fail(fn, "state_dict", f"a state dict with {wanted}", "none")
    matches = {name: _KEY.fullmatch(name) for name in arrays}
    for name, match in matches.items():
        if match is None:
            _unexpected(fn, prefix + name, "Select the LSTM's keys with prefix=, e.g. 'lstm.'.")
    layer_ids = [int(m.group(2)) for m in matches.values() if m.group(2) is not None]
    if not layer_ids:  # nn.LSTMCell
        suffixes = [("",)]
    else:
        directions = ("", "_reverse") if any(m.group(3) for m in matches.values()) else ("",)
        suffixes = [tuple(f"_l{k}{d}" for d in directions) for k in range(max(layer_ids) + 1)]
    taken: set[str] = set()
    layers = [
        tuple(_read_direction(arrays, prefix, suffix, taken) for suffix in layer)
        for layer in suffixes
    ]
    for name in sorted(set(arrays) - taken):
        _unexpected(fn, prefix + name, "nn.LSTM keys end in _l{k} and nn.LSTMCell keys do not.")
    return stack_from(layers)


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
      cell: write the keys of `torch.nn.LSTMCell` (one layer, no projection).

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
    layers = layers_of(fn, params)
    if cell and (len(layers) > 1 or len(layers[0][1]) > 1):
        fail(fn, "params", "one LSTMParams for cell=True", f"{len(layers)} layer(s)")
    state_dict: dict[str, np.ndarray] = {}
    first: tuple[Any, ...] | None = None
    for k, (name, layer) in enumerate(layers):
        for arg, direction, params_d in _directions(name, layer):
            weight_ih, weight_hh, bias, weight_hr = export_arrays(fn, arg, params_d)
            kind = (len(layer), bias is None, weight_ih.shape[0], weight_hh.shape[1])
            first = kind if first is None else first
            if kind != first:
                fail(
                    fn,
                    arg,
                    "alike to params[0]: one direction count, bias, hidden_size and proj_size",
                    f"(directions, no bias, 4*hidden, out) = {kind} vs {first}",
                    "torch.nn.LSTM has one setting of each for all layers.",
                )
            suffix = "" if cell else f"_l{k}{direction}"
            state_dict[f"weight_ih{suffix}"] = weight_ih
            state_dict[f"weight_hh{suffix}"] = weight_hh
            if bias is not None:
                state_dict[f"bias_ih{suffix}"] = bias
                state_dict[f"bias_hh{suffix}"] = np.zeros_like(bias)
            if cell:
                no_projection(fn, arg, weight_hr, "torch.nn.LSTMCell")
            elif weight_hr is not None:
                state_dict[f"weight_hr{suffix}"] = weight_hr
    return state_dict


def _directions(name: str, layer: Layer) -> list[tuple[str, str, LSTMParams]]:
    return list(zip(direction_names(name, layer), ("", "_reverse"), layer, strict=False))


def _read_direction(
    arrays: Mapping[str, Any], prefix: str, suffix: str, taken: set[str]
) -> LSTMParams:
    """Read one direction of one layer: the keys ending in `suffix`."""
    fn = "convert.from_torch"

    def label(name: str) -> str:
        return f"state_dict[{prefix + name + suffix!r}]"

    def get(name: str, *, required: bool) -> np.ndarray | None:
        key = name + suffix
        if key not in arrays:
            if required:
                _missing(fn, prefix + key, arrays, prefix)
            return None
        taken.add(key)
        return to_numpy(fn, label(name), arrays[key])

    weight_ih = get("weight_ih", required=True)
    hidden_size = gate_rows(fn, label("weight_ih"), weight_ih, 0, ("4*hidden_size", "input_size"))
    gates, out_size = 4 * hidden_size, hidden_size
    weight_hr = get("weight_hr", required=False)
    if weight_hr is not None:
        check_shape(fn, label("weight_hr"), weight_hr, ("proj_size", hidden_size))
        out_size = weight_hr.shape[0]
    weight_hh = get("weight_hh", required=True)
    check_shape(fn, label("weight_hh"), weight_hh, (gates, out_size))
    bias_ih, bias_hh = get("bias_ih", required=False), get("bias_hh", required=False)
    if (bias_ih is None) != (bias_hh is None):
        _missing(
            fn, prefix + ("bias_ih" if bias_ih is None else "bias_hh") + suffix, arrays, prefix
        )
    bias = None
    if bias_ih is not None:
        check_shape(fn, label("bias_ih"), bias_ih, (gates,))
        check_shape(fn, label("bias_hh"), bias_hh, (gates,))
        bias = bias_ih + bias_hh
    return make_params(weight_ih, weight_hh, bias, weight_hr)


def _missing(fn: str, key: str, arrays: Mapping[str, Any], prefix: str) -> NoReturn:
    present = ", ".join(repr(prefix + name) for name in sorted(arrays))
    fail(fn, "state_dict", f"a state dict with the key {key!r}", f"only {present}")


def _unexpected(fn: str, key: str, hint: str) -> NoReturn:
    fail(fn, "state_dict", "a torch.nn.LSTM or nn.LSTMCell state dict", f"the key {key!r}", hint)
