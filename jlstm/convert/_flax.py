"""Flax `LSTMCell` / `OptimizedLSTMCell` params (linen and NNX) to and from jlstm params.

Flax keeps one Dense block per gate and input: `ii, if, ig, io` map the input (kernel
only), `hi, hf, hg, ho` map `h` (kernel and bias), each kernel of shape `(in, hidden)` for
right-multiplication. Linen's `OptimizedLSTMCell` stores the same eight blocks; NNX's
`LSTMCell` names the forget block `if_` and NNX's `OptimizedLSTMCell` stores two fused
blocks, `dense_i` and `dense_h`, with gates i, f, g, o along the last axis. The Flax carry
is `(c, h)`, jlstm's state `LSTMState(h, c)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from jlstm._errors import LSTMTypeError, fail
from jlstm._public import public
from jlstm._types import LSTMParams, LSTMState
from jlstm._validation import state_type
from jlstm.convert._common import (
    check_shape,
    export_arrays,
    gate_rows,
    make_params,
    no_projection,
    to_numpy,
)

__all__ = ["from_flax", "state_from_flax", "state_to_flax", "to_flax"]

Layout = Literal["linen", "nnx", "nnx_optimized"]
_LAYOUTS = ("linen", "nnx", "nnx_optimized")


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
    tree = _mapping(fn, "variables", variables)  # an nnx.State is a Mapping of Variables
    path = "variables"
    if set(tree) == {"params"}:
        path += "['params']"
        tree = _mapping(fn, path, tree["params"])
    if "dense_i" in tree or "dense_h" in tree:
        return _read_fused(fn, path, tree)
    return _read_per_gate(fn, path, tree, "if_" if "if_" in tree else "if")


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
    if layout not in _LAYOUTS:
        fail(fn, "layout", f"one of {', '.join(map(repr, _LAYOUTS))}", repr(layout))
    weight_ih, weight_hh, bias, weight_hr = export_arrays(fn, "params", params)
    no_projection(fn, "params", weight_hr, "Flax's LSTMCell")
    bias = np.zeros(weight_ih.shape[0], weight_ih.dtype) if bias is None else bias
    if layout == "nnx_optimized":
        return {
            "dense_i": {"kernel": jnp.asarray(weight_ih.T)},
            "dense_h": {"kernel": jnp.asarray(weight_hh.T), "bias": jnp.asarray(bias)},
        }
    input_names = _input_names("if_" if layout == "nnx" else "if")
    tree: dict[str, Any] = {}
    blocks = zip(
        "ifgo", input_names, *(np.split(a, 4) for a in (weight_ih, weight_hh, bias)), strict=True
    )
    for gate, input_name, gate_ih, gate_hh, gate_bias in blocks:
        tree[input_name] = {"kernel": jnp.asarray(gate_ih.T)}
        tree[f"h{gate}"] = {"kernel": jnp.asarray(gate_hh.T), "bias": jnp.asarray(gate_bias)}
    return {"params": tree} if layout == "linen" else tree


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
    if not isinstance(carry, tuple | list) or len(carry) != 2:
        fail(
            "convert.state_from_flax",
            "carry",
            "a Flax carry (c, h)",
            type(carry).__name__,
            kind=LSTMTypeError,
        )
    c, h = carry
    return LSTMState(h=h, c=c)


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
    return state.c, state.h


def _input_names(forget: str) -> tuple[str, ...]:
    return ("ii", forget, "ig", "io")


def _read_per_gate(fn: str, path: str, tree: Mapping[str, Any], forget: str) -> LSTMParams:
    input_names, hidden_names = _input_names(forget), tuple(f"h{gate}" for gate in "ifgo")
    _keys(fn, path, tree, input_names + hidden_names)
    input_kernels, hidden_kernels, biases = [], [], []
    for name in input_names:
        label, kernel = _leaf(fn, path, tree, name, "kernel", ("kernel",))
        shape = ("input_size", "hidden_size") if not input_kernels else input_kernels[0].shape
        check_shape(fn, label, kernel, shape)
        input_kernels.append(kernel)
    hidden_size = input_kernels[0].shape[1]
    for name in hidden_names:
        label, kernel = _leaf(fn, path, tree, name, "kernel", ("kernel", "bias"))
        check_shape(fn, label, kernel, (hidden_size, hidden_size))
        label, bias = _leaf(fn, path, tree, name, "bias", ("kernel", "bias"))
        check_shape(fn, label, bias, (hidden_size,))
        hidden_kernels.append(kernel)
        biases.append(bias)
    return make_params(
        np.concatenate([kernel.T for kernel in input_kernels]),
        np.concatenate([kernel.T for kernel in hidden_kernels]),
        np.concatenate(biases),
    )


def _read_fused(fn: str, path: str, tree: Mapping[str, Any]) -> LSTMParams:
    _keys(fn, path, tree, ("dense_i", "dense_h"))
    label, hidden_kernel = _leaf(fn, path, tree, "dense_h", "kernel", ("kernel", "bias"))
    hidden_size = gate_rows(fn, label, hidden_kernel, 1, ("hidden_size", "4*hidden_size"))
    check_shape(fn, label, hidden_kernel, (hidden_size, 4 * hidden_size))
    label, bias = _leaf(fn, path, tree, "dense_h", "bias", ("kernel", "bias"))
    check_shape(fn, label, bias, (4 * hidden_size,))
    label, input_kernel = _leaf(fn, path, tree, "dense_i", "kernel", ("kernel",))
    check_shape(fn, label, input_kernel, ("input_size", 4 * hidden_size))
    return make_params(input_kernel.T, hidden_kernel.T, bias)


def _leaf(
    fn: str, path: str, tree: Mapping[str, Any], block: str, name: str, names: tuple[str, ...]
) -> tuple[str, np.ndarray]:
    """Read `tree[block][name]` after checking that `tree[block]` holds exactly `names`."""
    block_path = f"{path}[{block!r}]"
    block_tree = _mapping(fn, block_path, tree[block])
    _keys(fn, block_path, block_tree, names)
    label = f"{block_path}[{name!r}]"
    return label, to_numpy(fn, label, block_tree[name])


def _mapping(fn: str, path: str, tree: Any) -> Mapping[str, Any]:
    if not isinstance(tree, Mapping):
        fail(fn, path, "a mapping of Flax params", type(tree).__name__, kind=LSTMTypeError)
    return tree


def _keys(fn: str, path: str, tree: Mapping[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if name not in tree:
            fail(fn, path, f"a mapping with the key {name!r}", f"keys {sorted(tree)}")
    for name in sorted(set(tree) - set(names)):
        fail(fn, path, f"a mapping with only the keys {sorted(names)}", f"the extra key {name!r}")
