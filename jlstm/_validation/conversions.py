"""The checks of the params and states `jlstm.convert` converts: layers, stacks, states.

A wrong type or structure (a stack where one layer belongs, a bare tuple as a state) is
an `LSTMTypeError`; a wrong shape, size or count an `LSTMValueError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jlstm._errors import LSTMTypeError, fail, shape_str
from jlstm._types import Bidirectional, LSTMParams, LSTMState
from jlstm._validation.foreign import array, container, shape
from jlstm._validation.params import BARE_STATE_HINT, state_type

# One layer as messages name it, with its directions (one, or forward and backward), named.
Layer = tuple[str, list[tuple[str, Any]]]
_ONE_OR_TWO = ("an LSTMParams", "a Bidirectional")


def layers(fn: str, params: Any, one: str | None = None) -> list[Layer]:
    """Split an `LSTMParams`, a `Bidirectional` or a stack tuple into named layers.

    `one` names a format that holds one cell: params must then be one `LSTMParams`.
    """
    if one is not None:
        container(fn, "params", params, LSTMParams, "an LSTMParams", f"{one} holds one layer.")
    if isinstance(params, LSTMParams | Bidirectional):
        items, names = [params], ["params"]
    elif isinstance(params, tuple) and params:
        items, names = list(params), [f"params[{k}]" for k in range(len(params))]
    else:
        actual = "()" if isinstance(params, tuple) else type(params).__name__
        expected = "an LSTMParams, a Bidirectional or a non-empty tuple of them"
        fail(fn, "params", expected, actual, kind=LSTMTypeError)
    for name, item in zip(names, items, strict=True):
        if not isinstance(item, LSTMParams | Bidirectional):
            fail(fn, name, " or ".join(_ONE_OR_TWO), type(item).__name__, kind=LSTMTypeError)
    return [(name, _directions(name, item)) for name, item in zip(names, items, strict=True)]


def _directions(name: str, item: Any) -> list[tuple[str, Any]]:
    """The directions of one layer (params or states), named for messages."""
    if isinstance(item, Bidirectional):
        return [(f"{name}.forward", item.forward), (f"{name}.backward", item.backward)]
    return [(name, item)]


def exported(fn: str, arg: str, params: LSTMParams) -> LSTMParams:
    """Check one direction to export; copy it to writable NumPy arrays (for torch.from_numpy)."""
    for field in params._fields[4:]:
        if getattr(params, field) is not None:
            expected = "None (the plain LSTM that other frameworks implement)"
            fail(fn, f"{arg}.{field}", expected, "an array")
    # hidden_size is the width of weight_hr (with a projection) or of weight_hh, as in jlstm.
    weight_hh = array(fn, f"{arg}.weight_hh", params.weight_hh)
    shape(fn, f"{arg}.weight_hh", weight_hh, ("4*hidden_size", "out_size"))
    weight_hr = None
    hidden_size = out_size = weight_hh.shape[1]
    if params.weight_hr is not None:
        weight_hr = array(fn, f"{arg}.weight_hr", params.weight_hr)
        shape(fn, f"{arg}.weight_hr", weight_hr, (out_size, "hidden_size"))
        hidden_size = weight_hr.shape[1]
    gates = 4 * hidden_size
    weight_ih = array(fn, f"{arg}.weight_ih", params.weight_ih)
    cifg = weight_ih.ndim == 2 and weight_ih.shape[0] == 3 * hidden_size
    hint = "A CIFG layer (3 gate blocks) has no counterpart in other frameworks." if cifg else None
    shape(fn, f"{arg}.weight_ih", weight_ih, (gates, "input_size"), hint)
    shape(fn, f"{arg}.weight_hh", weight_hh, (gates, out_size))
    bias = None
    if params.bias is not None:
        bias = array(fn, f"{arg}.bias", params.bias)
        shape(fn, f"{arg}.bias", bias, (gates,))
    copies = (None if a is None else np.array(a, copy=True) for a in (weight_ih, weight_hh, bias))
    return LSTMParams(*copies, None if weight_hr is None else np.array(weight_hr, copy=True))


def no_projection(fn: str, arg: str, weight_hr: Any, target: str) -> None:
    """Reject a projection (LSTMP) for a format that has none."""
    if weight_hr is not None:
        fail(fn, f"{arg}.weight_hr", f"None ({target} has no projection)", "an array")


def same_directions(fn: str, stack: list[Layer], target: str) -> None:
    """Rule of a stack: every layer bidirectional or none."""
    count = len(stack[0][1])
    for name, directions in stack[1:]:
        if len(directions) != count:
            hint = f"{target} runs all layers bidirectional or none."
            actual = _ONE_OR_TWO[len(directions) - 1]
            fail(fn, name, _ONE_OR_TWO[count - 1], actual, hint, kind=LSTMTypeError)


def uniform_layers(fn: str, stack: list[Layer], target: str) -> None:
    """Rule of a stack: one bias setting, one hidden_size and one proj_size in all layers."""
    first = None
    for _, directions in stack:
        for arg, params in directions:
            kind = (params.bias is None, params.weight_ih.shape[0], params.weight_hh.shape[1])
            first = kind if first is None else first
            if kind != first:
                expected = "alike to params[0]: one bias, hidden_size and proj_size"
                hint = f"{target} has one setting of each for all layers."
                fail(fn, arg, expected, f"(no bias, 4*hidden, out) = {kind} vs {first}", hint)


def bias_in_both_directions(fn: str, stack: list[Layer], target: str) -> None:
    """Rule of a stack: a bias in both directions of a layer or in neither (`target` unused)."""
    for name, directions in stack:
        if len({params.bias is None for _, params in directions}) > 1:
            fail(fn, f"{name}.backward.bias", "set exactly when forward.bias is", "a mismatch")


def chained_layers(fn: str, stack: list[Layer], target: str) -> None:
    """Rule of a stack: one hidden_size, each layer reading the previous layer's output."""
    count, hidden = len(stack[0][1]), stack[0][1][0][1].weight_hh.shape[1]
    for k, (_, directions) in enumerate(stack):
        for arg, params in directions:
            if params.weight_hh.shape != (4 * hidden, hidden):
                actual = f"shape {shape_str(params.weight_hh.shape)}"
                hint = f"{target} has one hidden_size."
                fail(fn, f"{arg}.weight_hh", f"of shape {(4 * hidden, hidden)}", actual, hint)
            if k and params.weight_ih.shape[1] != count * hidden:
                actual = f"shape {shape_str(params.weight_ih.shape)}"
                hint = "Layers after the first read the previous layer's output."
                expected = f"of shape {(4 * hidden, count * hidden)}"
                fail(fn, f"{arg}.weight_ih", expected, actual, hint)


def template(fn: str, stored: Mapping[str, np.ndarray], old: Mapping[str, Any], hint: str) -> None:
    """Check exported arrays against the ones of the object they replace."""
    for key, value in stored.items():
        if old[key] is None:
            fail(fn, f"params.{key}", f"None for a cell without {key}", "an array", hint)
        if np.shape(old[key]) != value.shape:
            shape(fn, f"params.{key}", value, np.shape(old[key]))


def state_rows(
    fn: str, arrays: Sequence[tuple[str, Any]], rows: Sequence[tuple[str, Sequence[int]]]
) -> None:
    """Check states stacked as `(rows, *batch, size)` arrays, one batch shape for all.

    `rows` holds for each row the direction it belongs to and the features of each array.
    """
    for arg, value in arrays:
        if value.ndim < 2 or value.shape[0] != len(rows):
            expected = f"of shape ({len(rows)}, *batch, size): one row per layer and direction"
            fail(fn, arg, expected + " of params", f"shape {shape_str(value.shape)}")
    (first_arg, first), *others = arrays
    for arg, value in others:
        if value.shape[1:-1] != first.shape[1:-1]:
            expected = f"of the batch shape of {first_arg}, {shape_str(first.shape[1:-1])}"
            fail(fn, arg, expected, f"shape {shape_str(value.shape)}")
    for row, (source, features) in enumerate(rows):
        for (arg, value), wanted in zip(arrays, features, strict=True):
            if value.shape[-1] != wanted:
                expected = f"of {wanted} features in row {row} (from {source})"
                fail(fn, arg, expected, f"shape {shape_str(value.shape)}")


def state_layers(fn: str, states: Any, stack: bool) -> list[tuple[str, LSTMState]]:
    """Check jlstm states of one layer or a stack; return every direction's state, named."""
    items = tuple(states) if stack else (states,)
    names = [f"states[{k}]" for k in range(len(items))] if stack else ["states"]
    expected = "an LSTMState, a Bidirectional or a non-empty tuple of them"
    if not items:
        fail(fn, "states", expected, "()", kind=LSTMTypeError)
    if stack and all(hasattr(item, "shape") for item in items):
        actual = f"a {type(states).__name__} of {len(items)} arrays"
        fail(fn, "states", expected, actual, BARE_STATE_HINT, kind=LSTMTypeError)
    rows = [row for name, item in zip(names, items, strict=True) for row in _directions(name, item)]
    for name, state in rows:
        state_type(fn, name, state)
    return rows


def same_shapes(fn: str, arrays: Sequence[tuple[str, np.ndarray]], hint: str) -> None:
    """Check that arrays to be stacked into one have one shape."""
    first_name, first = arrays[0]
    for name, value in arrays[1:]:
        if value.shape != first.shape:
            expected = f"of shape {shape_str(first.shape)} like {first_name}"
            fail(fn, name, expected, f"shape {shape_str(value.shape)}", hint)


def carry(fn: str, arg: str, value: Any, expected: str, count: int) -> None:
    """Check a foreign state given as a tuple of `count` arrays."""
    if not isinstance(value, tuple | list) or len(value) != count:
        fail(fn, arg, expected, type(value).__name__, kind=LSTMTypeError)


state = state_type  # a jlstm LSTMState to export
