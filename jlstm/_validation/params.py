"""Trace-time validation of params and states: shapes, dtypes and structure.

Every check runs on static information (`.shape`, `.dtype`, pytree structure, Python
numbers), so it raises while a function is being traced, before XLA sees anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax

from jlstm._errors import LSTMTypeError, fail, shape_str
from jlstm._types import LayerNorm, LSTMParams, LSTMState, gate_blocks
from jlstm._validation.arrays import as_array, float_array

# The one hint for a state given as a bare tuple or list: its order cannot be known.
BARE_STATE_HINT = (
    "A bare tuple or list is never read as a state, since libraries order them differently: "
    "a Flax carry is (c, h). Name the fields, e.g. jlstm.LSTMState(h=carry[1], c=carry[0]) "
    "for a Flax carry (or jlstm.convert.state_from_flax(carry))."
)


def state_type(fn: str, arg: str, value: Any) -> None:
    """Check that `value` is a `jlstm.LSTMState`; a bare tuple or list is never guessed at."""
    if isinstance(value, LSTMState):
        return
    hint = "Build it with jlstm.zero_state or jlstm.LSTMState(h=..., c=...)."
    if type(value) in (tuple, list):
        hint = BARE_STATE_HINT
    fail(fn, arg, "an LSTMState(h=..., c=...)", type(value).__name__, hint, kind=LSTMTypeError)


def params_type(fn: str, value: Any) -> None:
    """Check that `params` is one layer's `LSTMParams` (not a dict, a pair or a stack)."""
    if not isinstance(value, LSTMParams):
        hint = "Create one with jlstm.init_lstm or jlstm.LSTMParams(weight_ih, weight_hh, bias)."
        if isinstance(value, Mapping):
            hint = "Convert another library's weights with jlstm.convert (from_torch, ...)."
        fail(fn, "params", "an LSTMParams", type(value).__name__, hint, kind=LSTMTypeError)


def params(fn: str, value: Any) -> tuple[int, int, int]:
    """Check an `LSTMParams` and return its `(input_size, hidden_size, out_size)`.

    Shapes must agree with each other and every leaf must share one floating dtype.
    """
    params_type(fn, value)
    for name in ("weight_ih", "weight_hh"):
        float_array(fn, f"params.{name}", getattr(value, name))
    blocks = gate_blocks(value)
    gates = value.weight_ih.shape[0] if value.weight_ih.ndim == 2 else 0
    if value.weight_ih.ndim != 2 or gates % blocks or gates == 0:
        fail(
            fn,
            "params.weight_ih",
            "of shape (4*hidden_size, input_size) with hidden_size > 0 (3*hidden_size for CIFG)",
            f"shape {shape_str(value.weight_ih.shape)}",
        )
    input_size, hidden_size, out_size = value.weight_ih.shape[1], gates // blocks, gates // blocks
    if value.weight_hr is not None:
        float_array(fn, "params.weight_hr", value.weight_hr)
        out_size = value.weight_hr.shape[0] if value.weight_hr.ndim == 2 else 0
        if not 0 < out_size < hidden_size or value.weight_hr.shape[1:] != (hidden_size,):
            fail(
                fn,
                "params.weight_hr",
                f"of shape (proj_size, {hidden_size}) with 0 < proj_size < {hidden_size}",
                f"shape {shape_str(value.weight_hr.shape)}",
            )
    leaf_shape(fn, "params.weight_hh", value.weight_hh, (gates, out_size))
    if value.bias is not None:
        float_array(fn, "params.bias", value.bias)
        leaf_shape(fn, "params.bias", value.bias, (gates,))
    variant_params(fn, value, blocks, hidden_size)
    dtypes = sorted({str(leaf.dtype) for leaf in jax.tree_util.tree_leaves(value)})
    if len(dtypes) > 1:
        fail(fn, "params", "all of one dtype", dtypes, kind=LSTMTypeError)
    return input_size, hidden_size, out_size


def variant_params(fn: str, value: LSTMParams, blocks: int, hidden_size: int) -> None:
    """Check the optional peephole and layer-norm parts of an `LSTMParams` against its sizes."""
    if value.weight_peephole is not None:
        float_array(fn, "params.weight_peephole", value.weight_peephole)
        expected = (blocks - 1, hidden_size)  # one row per sigmoid gate
        leaf_shape(fn, "params.weight_peephole", value.weight_peephole, expected)
    norm = value.layer_norm
    if norm is None:
        return
    if not isinstance(norm, LayerNorm):
        fail(
            fn,
            "params.layer_norm",
            "a jlstm.LayerNorm or None",
            type(norm).__name__,
            "Create one with jlstm.init_lstm(..., layer_norm=True).",
            kind=LSTMTypeError,
        )
    sizes = (blocks * hidden_size,) * 2 + (hidden_size,) * 2
    for name, features in zip(LayerNorm._fields, sizes, strict=True):
        float_array(fn, f"params.layer_norm.{name}", getattr(norm, name))
        leaf_shape(fn, f"params.layer_norm.{name}", getattr(norm, name), (features,))


def leaf_shape(fn: str, arg: str, leaf: Any, expected: tuple[int, ...]) -> None:
    """Check that a parameter leaf has the shape implied by `params.weight_ih`."""
    if tuple(leaf.shape) != expected:
        fail(
            fn,
            arg,
            f"of shape {shape_str(expected)}",
            f"shape {shape_str(leaf.shape)}",
            "params.weight_ih fixes hidden_size; the other weights must agree with it.",
        )


def state(
    fn: str,
    value: Any,
    batch_shape: tuple[int, ...],
    hidden_size: int,
    out_size: int,
    dtype: Any,
    hint: str | None = None,
) -> LSTMState:
    """Check an `LSTMState` against the batch shape, the layer sizes and the state dtype.

    Returns the state with its leaves read by `as_array` (NumPy leaves as JAX arrays).
    """
    state_type(fn, "state", value)
    leaves = {}
    for name, features in (("h", out_size), ("c", hidden_size)):
        leaf = as_array(fn, f"state.{name}", getattr(value, name))
        float_array(fn, f"state.{name}", leaf)
        expected = (*batch_shape, features)
        if tuple(leaf.shape) != expected:
            fail(
                fn,
                f"state.{name}",
                f"of shape {shape_str(expected)}",
                f"shape {shape_str(leaf.shape)}",
                hint,
            )
        if leaf.dtype != dtype:
            fail(
                fn,
                f"state.{name}",
                f"of dtype {dtype} (the params' dtype)",
                f"dtype {leaf.dtype}",
                kind=LSTMTypeError,
            )
        leaves[name] = leaf
    return value._replace(**leaves)
