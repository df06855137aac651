"""Initialisation of a stack of layers, mirroring `torch.nn.LSTM`'s layout."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jlstm._init import init_lstm
from jlstm._public import public
from jlstm._types import Bidirectional, LSTMParams, merged_size
from jlstm._validation import flag, projection, renamed, size
from jlstm._validation.layers import merge_mode as check_merge_mode
from jlstm._validation.layers import per_layer

__all__ = ["init_stack"]


@public("jlstm")
def init_stack(
    key: jax.Array,
    input_size: int,
    hidden_size: int | Sequence[int],
    *,
    num_layers: int,
    bidirectional: bool = False,
    merge_mode: str = "concat",
    proj_size: int | Sequence[int | None] | None = None,
    bias: bool = True,
    forget_bias: float = 1.0,
    param_dtype: Any = jnp.float32,
    dtype: Any = None,
    **layer_options: Any,
) -> tuple[LSTMParams | Bidirectional, ...]:
    """Initialise a stack of LSTM layers, laid out like `torch.nn.LSTM`.

    Layer 0 reads `input_size` features; layer k > 0 reads the outputs of layer k - 1:
    `proj_size or hidden_size` features, twice that when bidirectional with
    `merge_mode="concat"`. Each layer is drawn by `jlstm.init_lstm` from its own key.

    Args:
      key: a PRNG key.
      input_size: features per input step of the first layer.
      hidden_size: cell size of every layer, or a sequence with one size per layer.
      num_layers: number of layers (required); a sequence `hidden_size` or `proj_size` has
        one item per layer.
      bidirectional: whether each layer is a `Bidirectional` pair of layers.
      merge_mode: how `jlstm.stack` will merge the directions of each bidirectional
        layer ("concat", "sum", "mean" or "mul"); it sizes the next layer's input, so pass
        the same one to `jlstm.stack`.
      proj_size: output projection size (LSTMP) of every layer, or a sequence with one
        size (or None) per layer; must be smaller than the layer's `hidden_size`.
      bias: whether the layers have a bias.
      forget_bias: value added to the forget-gate block of each bias.
      param_dtype: floating dtype of every parameter (see `jlstm.init_lstm`).
      dtype: deprecated name of `param_dtype`.
      **layer_options: further options of `jlstm.init_lstm` for every layer, such as its
        initialisers (`weight_ih_init`, ...) or its variants (`peephole`, `layer_norm`, `cifg`).

    Returns:
      A tuple of `num_layers` layers: `LSTMParams`, or `Bidirectional(forward, backward)`
      of `LSTMParams` when `bidirectional`. Run it with `jlstm.stack`.

    Example:
      >>> import jax, jax.numpy as jnp, jlstm
      >>> params = jlstm.init_stack(jax.random.key(0), 3, 8, num_layers=2, bidirectional=True)
      >>> [layer.forward.weight_ih.shape for layer in params]
      [(32, 3), (32, 16)]
      >>> summed = jlstm.init_stack(jax.random.key(0), 3, 8, num_layers=2, bidirectional=True,
      ...                           merge_mode="sum")
      >>> summed[1].forward.weight_ih.shape, jlstm.stack(summed, jnp.ones((5, 3)),
      ...                                                merge_mode="sum")[1].shape
      ((32, 8), (5, 8))
      >>> params = jlstm.init_stack(jax.random.key(0), 3, [8, 6], num_layers=2,
      ...                           proj_size=[4, None])
      >>> [layer.weight_ih.shape for layer in params], params[0].weight_hr.shape
      ([(32, 3), (24, 4)], (4, 8))
    """
    size("init_stack", "input_size", input_size)
    flag("init_stack", "bidirectional", bidirectional)
    check_merge_mode("init_stack", merge_mode, allow_none=False)
    param_dtype = renamed("init_stack", "dtype", "param_dtype", dtype, param_dtype, jnp.float32)
    size("init_stack", "num_layers", num_layers)
    hidden_sizes = per_layer("init_stack", "hidden_size", hidden_size, num_layers, allow_none=False)
    proj_sizes = per_layer("init_stack", "proj_size", proj_size, num_layers, allow_none=True)
    for k, (hidden, proj) in enumerate(zip(hidden_sizes, proj_sizes, strict=True)):
        projection("init_stack", proj, hidden, layer=k)
    layer_keys = jax.random.split(key, num_layers)
    layers: list[LSTMParams | Bidirectional] = []
    for k, (hidden, proj) in enumerate(zip(hidden_sizes, proj_sizes, strict=True)):
        init = functools.partial(
            init_lstm,
            input_size=input_size,
            hidden_size=hidden,
            proj_size=proj,
            bias=bias,
            forget_bias=forget_bias,
            param_dtype=param_dtype,
            **layer_options,
        )
        if bidirectional:
            forward_key, backward_key = jax.random.split(layer_keys[k])
            layers.append(Bidirectional(init(forward_key), init(backward_key)))
        else:
            layers.append(init(layer_keys[k]))
        out_size = hidden if proj is None else proj
        input_size = merged_size((out_size,) * (2 if bidirectional else 1), merge_mode)
    return tuple(layers)
