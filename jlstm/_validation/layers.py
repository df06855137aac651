"""Trace-time validation of layered params and states: stacks and bidirectional layers.

The checks of single layers, arrays and options live in `jlstm._checks`; these build on
them for the tuples and `Bidirectional` pairs that `jlstm.stack` and
`jlstm.bidirectional` take.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import jax

from jlstm import _types as types
from jlstm._errors import LSTMError, LSTMTypeError, LSTMValueError, fail, shape_str
from jlstm._types import Bidirectional, LSTMParams, LSTMState
from jlstm._validation import BARE_STATE_HINT, params, size, state_type

MERGE_MODES = ("concat", "sum", "mean", "mul")


@contextlib.contextmanager
def context(note: str) -> Iterator[None]:
    """Add `note` to a jlstm error raised inside: where in a stack or direction it happened."""
    try:
        yield
    except LSTMError as error:
        error.add_note(note)
        raise


def merge_mode(fn: str, value: Any, *, allow_none: bool = True) -> None:
    """Check a bidirectional `merge_mode`: one of `MERGE_MODES`, or None where allowed."""
    if (value is None and allow_none) or (isinstance(value, str) and value in MERGE_MODES):
        return
    choices = ", ".join(repr(mode) for mode in MERGE_MODES) + (" or None" if allow_none else "")
    hint = "Keras' 'ave' is called 'mean' here." if value == "ave" else None
    if value is None:
        hint = (
            "Each layer feeds the next one array; to keep the directions of the last layer "
            "apart, run it with jlstm.bidirectional(..., merge_mode=None)."
        )
    kind = LSTMValueError if value is None or isinstance(value, str) else LSTMTypeError
    fail(fn, "merge_mode", f"one of {choices}", repr(value), hint, kind=kind)


def per_layer(fn: str, arg: str, value: Any, num_layers: int, *, allow_none: bool) -> list[Any]:
    """One size per layer: a sequence must have `num_layers` items, a single value repeats."""
    if not isinstance(value, Sequence):
        size(fn, arg, value, allow_none=allow_none)
        return [value] * num_layers
    if len(value) != num_layers:
        expected = f"one size per layer (num_layers={num_layers}), or a single size"
        fail(fn, arg, expected, f"{len(value)} sizes {list(value)}")
    for k, item in enumerate(value):
        size(fn, f"{arg}[{k}]", item, allow_none=allow_none)
    return list(value)


def unsupported_options(fn: str, options: dict[str, Any], reasons: dict[str, str]) -> None:
    """Reject per-layer options that `fn` cannot forward; `reasons` maps each to a hint."""
    for name, reason in reasons.items():
        if name in options:
            fail(fn, name, "left out", repr(options[name]), reason, kind=LSTMTypeError)


def known_options(fn: str, options: dict[str, Any], known: dict[str, Any]) -> None:
    """Reject the per-layer options of `fn` that are not in `known` (`jlstm.lstm`'s)."""
    for name, value in options.items():
        if name not in known:
            expected = "a keyword option of jlstm.lstm (see its docstring)"
            fail(fn, name, expected, repr(value), kind=LSTMTypeError)


def bidirectional_params(fn: str, arg: str, value: Any) -> tuple[int, tuple[int, int]]:
    """Check a `Bidirectional` of two `LSTMParams` that read the same inputs.

    Returns `(input_size, (forward_out_size, backward_out_size))`.
    """
    if not isinstance(value, Bidirectional):
        fail(
            fn,
            arg,
            "a Bidirectional(forward, backward) of LSTMParams",
            type(value).__name__,
            kind=LSTMTypeError,
        )
    sizes = []
    for direction in ("forward", "backward"):
        part = getattr(value, direction)
        if not isinstance(part, LSTMParams):
            name = f"{arg}.{direction}"
            fail(fn, name, "an LSTMParams", type(part).__name__, kind=LSTMTypeError)
        with context(f"(in `{arg}.{direction}`)"):
            sizes.append(params(fn, part))
    (input_size, _, forward_out), (backward_input, _, backward_out) = sizes
    if backward_input != input_size:
        fail(
            fn,
            f"{arg}.backward.weight_ih",
            f"of shape (4*hidden_size, {input_size}) (the input_size of {arg}.forward)",
            f"shape {shape_str(value.backward.weight_ih.shape)}",
        )
    return input_size, (forward_out, backward_out)


def layer(fn: str, arg: str, value: Any) -> tuple[int, tuple[int, ...]]:
    """Check one layer of a stack; return its input size and its output size per direction."""
    if isinstance(value, Bidirectional):
        return bidirectional_params(fn, arg, value)
    if not isinstance(value, LSTMParams):
        fail(
            fn,
            arg,
            "a layer: an LSTMParams or a Bidirectional(forward, backward) of LSTMParams",
            type(value).__name__,
            kind=LSTMTypeError,
        )
    with context(f"(in `{arg}`)"):
        input_size, _, out_size = params(fn, value)
    return input_size, (out_size,)


def merged_size(fn: str, arg: str, out_sizes: tuple[int, ...], mode: str) -> int:
    """The features of a layer's output once its directions are merged with `mode`."""
    if len(out_sizes) == 2 and mode != "concat" and out_sizes[0] != out_sizes[1]:
        forward, backward = out_sizes
        fail(
            fn,
            arg,
            f"two directions of one output size to merge them with merge_mode={mode!r}",
            f"output sizes {forward} and {backward}",
            "Give both directions the same (proj_)size, or use merge_mode='concat'.",
        )
    return types.merged_size(out_sizes, mode)


def stack_params(fn: str, value: Any, mode: str, dtype: Any) -> None:
    """Check a stack: a non-empty tuple of layers whose sizes chain and whose dtypes agree.

    Layer k > 0 reads the (merged) outputs of layer k - 1. Without a compute `dtype`, the
    outputs of a layer have its params' dtype, so every layer must share one dtype.
    """
    if isinstance(value, LSTMParams | Bidirectional) or not isinstance(value, tuple | list):
        hint = "Create one with jlstm.init_stack."
        if isinstance(value, LSTMParams | Bidirectional):
            hint = "Wrap a single layer in a tuple: (params,)."
        name = type(value).__name__
        fail(fn, "params", "a tuple of layers", name, hint, kind=LSTMTypeError)
    if not value:
        fail(fn, "params", "a tuple of at least one layer", "an empty one")
    previous_out, previous_dtype = 0, None
    for k, item in enumerate(value):
        input_size, out_sizes = layer(fn, f"params[{k}]", item)
        if k and input_size != previous_out:
            source = f"the output size of params[{k - 1}]"
            if isinstance(value[k - 1], Bidirectional) and mode == "concat":
                source += ", both directions concatenated"
            forward = f"params[{k}].forward" if isinstance(item, Bidirectional) else f"params[{k}]"
            fail(
                fn,
                f"{forward}.weight_ih",
                f"of shape (4*hidden_size, {previous_out}) ({source})",
                f"shape {shape_str(jax.tree.leaves(item)[0].shape)}",
            )
        item_dtype = jax.tree.leaves(item)[0].dtype
        if dtype is None and previous_dtype not in (None, item_dtype):
            fail(
                fn,
                f"params[{k}]",
                f"of dtype {previous_dtype} like params[{k - 1}] when no compute `dtype=` is given",
                f"dtype {item_dtype}",
                "Cast the layers to one dtype, or pass dtype= to choose the compute dtype.",
                kind=LSTMTypeError,
            )
        previous_out, previous_dtype = merged_size(fn, f"params[{k}]", out_sizes, mode), item_dtype


def layer_state(fn: str, arg: str, value: Any, layer_arg: str, *, bidirectional: bool) -> None:
    """Check that a layer's initial state (None for zeros) is of the kind of its layer.

    Each direction's state must be a `jlstm.LSTMState` (or None); a bare tuple or list is
    never read as one (see `jlstm._checks.state_type`).
    """
    if value is None:
        return
    if isinstance(value, Bidirectional) != bidirectional:
        if bidirectional:
            expected = f"a Bidirectional(forward, backward) of LSTMState, as `{layer_arg}` is one"
            hint = "Build it with jlstm.Bidirectional(forward_state, backward_state)."
        else:
            expected = f"an LSTMState, as `{layer_arg}` is an LSTMParams (one direction)"
            hint = None
        fail(fn, arg, expected, type(value).__name__, hint, kind=LSTMTypeError)
    if not bidirectional:
        state_type(fn, arg, value)
        return
    for direction in ("forward", "backward"):
        if getattr(value, direction) is not None:
            state_type(fn, f"{arg}.{direction}", getattr(value, direction))


def _states(count: int) -> str:
    return f"{count} state" if count == 1 else f"{count} states"


def stack_states(fn: str, value: Any, layers: Any, arg: str = "state") -> tuple[Any, ...]:
    """Check a stack's initial `state` against its layers; return one state (or None) each.

    `arg` names the argument in errors (`initial_state` for the Flax modules).
    """
    if value is None:
        return (None,) * len(layers)
    expected = f"None or a tuple of {_states(len(layers))}, one per layer of `params`"
    if isinstance(value, LSTMState | Bidirectional) or not isinstance(value, tuple | list):
        hint = None
        if isinstance(value, LSTMState | Bidirectional):
            hint = "Wrap a single layer's state in a tuple: (state,)."
        fail(fn, arg, expected, type(value).__name__, hint, kind=LSTMTypeError)
    if value and all(hasattr(item, "shape") for item in value):
        actual = f"a {type(value).__name__} of {len(value)} arrays"
        hint = "Each layer's state is an LSTMState(h=..., c=...). " + BARE_STATE_HINT
        fail(fn, arg, expected, actual, hint, kind=LSTMTypeError)
    if len(value) != len(layers):
        fail(fn, arg, expected, _states(len(value)))
    for k, (item, state_value) in enumerate(zip(layers, value, strict=True)):
        bidirectional = isinstance(item, Bidirectional)
        layer_state(fn, f"{arg}[{k}]", state_value, f"params[{k}]", bidirectional=bidirectional)
    return tuple(value)
