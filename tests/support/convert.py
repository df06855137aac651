"""What the converter tests share: random stacks, framework-free stand-ins, hand-run stacks."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

import jlstm
from jlstm import Bidirectional, LSTMParams
from support.factories import random_layer
from support.layers import directions


class EquinoxLikeCell(NamedTuple):
    """A pytree with the fields of `equinox.nn.LSTMCell`, for tests without Equinox."""

    weight_ih: np.ndarray
    weight_hh: np.ndarray
    bias: np.ndarray | None


def zeros(*shape, dtype=np.float32) -> np.ndarray:
    return np.zeros(shape, dtype)


def random_params(seed, input_size, hidden_size, proj_size=None, *, bias=True, dtype=np.float32):
    """`support.factories.random_layer`, without its bias unless `bias`."""
    params = random_layer(seed, input_size, hidden_size, proj_size, dtype=dtype)
    return params if bias else params._replace(bias=None)


def random_stack(
    seed, input_size, hidden_size, num_layers=1, bidirectional=False, proj_size=None, bias=True
):
    """Random params of one model, as every `from_X` returns it: one layer as itself."""
    layers, features = [], input_size
    for k in range(num_layers):
        pair = [
            random_params(seed + 2 * k + d, features, hidden_size, proj_size, bias=bias)
            for d in range(1 + bidirectional)
        ]
        layers.append(Bidirectional(*pair) if bidirectional else pair[0])
        features = (1 + bidirectional) * (proj_size or hidden_size)
    return layers[0] if num_layers == 1 else tuple(layers)


def layers_of(params) -> tuple:
    """The layers of one layer or of a stack tuple."""
    return (params,) if isinstance(params, LSTMParams | Bidirectional) else tuple(params)


def pseudo_layers(params) -> list[LSTMParams]:
    """Every direction in PyTorch's and cuDNN's order: layer 0 forward, backward, layer 1 ..."""
    return [direction for layer in layers_of(params) for direction in directions(layer)]


def run_stack(params, xs, h0=None, c0=None):
    """A stack composed by hand from `jlstm.lstm`, initial states in PyTorch's row order.

    Returns `(ys, h_n, c_n)` like `torch.nn.LSTM` and `jax.experimental.rnn.lstm_ref`.
    """
    finals, row = [], 0
    for layer in layers_of(params):
        outputs = []
        for reverse, direction in enumerate(directions(layer)):
            state = None if h0 is None else jlstm.LSTMState(h=h0[row], c=c0[row])
            state, ys = jlstm.lstm(direction, xs, state, reverse=bool(reverse))
            finals.append(state)
            outputs.append(ys)
            row += 1
        xs = jnp.concatenate(outputs, axis=-1)
    return xs, jnp.stack([s.h for s in finals]), jnp.stack([s.c for s in finals])


def torch_layer(suffix="_l0", input_size=3, hidden=2, bias=True) -> dict[str, np.ndarray]:
    """A zero `torch.nn.LSTM` state dict of one direction, its keys ending in `suffix`."""
    state_dict = {
        f"weight_ih{suffix}": zeros(4 * hidden, input_size),
        f"weight_hh{suffix}": zeros(4 * hidden, hidden),
    }
    if bias:
        state_dict |= {f"bias_ih{suffix}": zeros(4 * hidden), f"bias_hh{suffix}": zeros(4 * hidden)}
    return state_dict


def flax_params(input_size=3, hidden=2) -> dict[str, dict[str, np.ndarray]]:
    """Zero params of a linen `LSTMCell` (the `"params"` entry)."""
    params = {f"i{g}": {"kernel": zeros(input_size, hidden)} for g in "ifgo"}
    return params | {
        f"h{g}": {"kernel": zeros(hidden, hidden), "bias": zeros(hidden)} for g in "ifgo"
    }


def fused_flax_params(input_size=3, hidden=2) -> dict[str, dict[str, np.ndarray]]:
    """Zero params of an `nnx.OptimizedLSTMCell`."""
    return {
        "dense_i": {"kernel": zeros(input_size, 4 * hidden)},
        "dense_h": {"kernel": zeros(hidden, 4 * hidden), "bias": zeros(4 * hidden)},
    }
