"""What every weight converter shares: taking arrays in, checking shapes, walking stacks.

Converters read foreign arrays with NumPy (torch tensors, Keras and Flax variables all
support `np.asarray`) and never import the frameworks themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from jlstm._errors import LSTMTypeError, fail, shape_str
from jlstm._types import Bidirectional, LSTMParams

# One layer of a stack, as its directions: (forward,) or (forward, backward).
Layer = tuple[LSTMParams, ...]


def to_numpy(fn: str, key: str, value: Any) -> np.ndarray:
    """Read one foreign weight as a floating NumPy array; `key` names it in errors."""
    detach = getattr(value, "detach", None)
    if callable(detach):  # a torch tensor: drop autograd and move to host memory first
        value = detach().cpu()
    try:
        array = np.asarray(value)
    except (TypeError, RuntimeError, ValueError) as error:
        fail(
            fn,
            key,
            "an array that NumPy can read",
            f"{type(value).__name__} ({error})",
            "Convert it to float32 first (torch: `tensor.float()`).",
            kind=LSTMTypeError,
        )
    if not jnp.issubdtype(array.dtype, jnp.floating):
        fail(fn, key, "a real floating-point array", f"dtype {array.dtype}", kind=LSTMTypeError)
    return array


def check_shape(
    fn: str, key: str, array: np.ndarray, expected: Sequence[int | str], hint: str | None = None
) -> None:
    """Check `array.shape` against `expected`, whose str entries are free, named sizes."""
    fits = array.ndim == len(expected) and all(
        isinstance(want, str) or have == want
        for have, want in zip(array.shape, expected, strict=False)
    )
    if not fits:
        names = ", ".join(str(want) for want in expected) + ("," if len(expected) == 1 else "")
        fail(fn, key, f"of shape ({names})", f"shape {shape_str(array.shape)}", hint)


def gate_rows(fn: str, key: str, array: np.ndarray, axis: int, layout: Sequence[str]) -> int:
    """Check a gate-stacked array (rank `len(layout)`) and return its hidden_size."""
    check_shape(fn, key, array, layout)
    gates = array.shape[axis]
    if gates == 0 or gates % 4:
        fail(
            fn,
            key,
            f"of shape ({', '.join(layout)}) with 4 equal gate blocks on axis {axis}",
            f"shape {shape_str(array.shape)}",
        )
    return gates // 4


def make_params(
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias: np.ndarray | None,
    weight_hr: np.ndarray | None = None,
) -> LSTMParams:
    """Build `LSTMParams` of jax arrays from checked NumPy arrays in PyTorch layout.

    The arrays are copied, so later in-place updates of the source (a torch tensor being
    trained) never reach the params.
    """
    return LSTMParams(
        weight_ih=jnp.array(weight_ih),
        weight_hh=jnp.array(weight_hh),
        bias=None if bias is None else jnp.array(bias),
        weight_hr=None if weight_hr is None else jnp.array(weight_hr),
    )


def stack_from(layers: Sequence[Layer]) -> LSTMParams | Bidirectional | tuple[Any, ...]:
    """The structure every converter returns: one layer as itself, more as a stack tuple.

    One unidirectional layer is an `LSTMParams`, one bidirectional layer a
    `Bidirectional`, two or more layers a tuple with one of those per layer.
    """
    items = tuple(Bidirectional(*layer) if len(layer) == 2 else layer[0] for layer in layers)
    return items[0] if len(items) == 1 else items


def layers_of(fn: str, params: Any) -> list[tuple[str, Layer]]:
    """Split `LSTMParams`, a `Bidirectional` or a stack tuple into named layers."""
    if isinstance(params, LSTMParams | Bidirectional):
        items, names = [params], ["params"]
    elif isinstance(params, tuple) and params:
        items, names = list(params), [f"params[{k}]" for k in range(len(params))]
    else:
        fail(
            fn,
            "params",
            "an LSTMParams, a Bidirectional or a non-empty tuple of them",
            "()" if isinstance(params, tuple) else type(params).__name__,
            kind=LSTMTypeError,
        )
    layers = []
    for name, item in zip(names, items, strict=True):
        if isinstance(item, Bidirectional):
            layers.append((name, (item.forward, item.backward)))
        elif isinstance(item, LSTMParams):
            layers.append((name, (item,)))
        else:
            fail(
                fn,
                name,
                "an LSTMParams or a Bidirectional",
                type(item).__name__,
                kind=LSTMTypeError,
            )
    return layers


def direction_names(name: str, layer: Layer) -> list[str]:
    """Argument names of the directions of a layer, for error messages."""
    return [f"{name}.forward", f"{name}.backward"] if len(layer) == 2 else [name]


def export_arrays(
    fn: str, arg: str, params: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Check one direction's `LSTMParams` and copy it to writable NumPy arrays.

    Returns `(weight_ih, weight_hh, bias, weight_hr)`; the copies are writable so that
    `torch.from_numpy` accepts them without a warning.
    """
    if not isinstance(params, LSTMParams):
        fail(fn, arg, "an LSTMParams", type(params).__name__, kind=LSTMTypeError)
    for field in params._fields[4:]:
        if getattr(params, field) is not None:
            fail(
                fn,
                f"{arg}.{field}",
                "None (the plain LSTM that other frameworks implement)",
                "an array",
            )
    # hidden_size is the width of weight_hr (with a projection) or of weight_hh, as in jlstm.
    weight_hh = to_numpy(fn, f"{arg}.weight_hh", params.weight_hh)
    check_shape(fn, f"{arg}.weight_hh", weight_hh, ("4*hidden_size", "out_size"))
    weight_hr = None
    hidden_size = out_size = weight_hh.shape[1]
    if params.weight_hr is not None:
        weight_hr = to_numpy(fn, f"{arg}.weight_hr", params.weight_hr)
        check_shape(fn, f"{arg}.weight_hr", weight_hr, (out_size, "hidden_size"))
        hidden_size = weight_hr.shape[1]
    gates = 4 * hidden_size
    weight_ih = to_numpy(fn, f"{arg}.weight_ih", params.weight_ih)
    cifg = weight_ih.ndim == 2 and weight_ih.shape[0] == 3 * hidden_size
    hint = "A CIFG layer (3 gate blocks) has no counterpart in other frameworks." if cifg else None
    check_shape(fn, f"{arg}.weight_ih", weight_ih, (gates, "input_size"), hint)
    check_shape(fn, f"{arg}.weight_hh", weight_hh, (gates, out_size))
    bias = None
    if params.bias is not None:
        bias = to_numpy(fn, f"{arg}.bias", params.bias)
        check_shape(fn, f"{arg}.bias", bias, (gates,))
    return _copy(weight_ih), _copy(weight_hh), _copy(bias), _copy(weight_hr)


def no_projection(fn: str, arg: str, weight_hr: np.ndarray | None, target: str) -> None:
    """Reject a projection (LSTMP) for a target format that has none."""
    if weight_hr is not None:
        fail(fn, f"{arg}.weight_hr", f"None ({target} has no projection)", "an array")


def _copy(array: np.ndarray | None) -> np.ndarray | None:
    return None if array is None else np.array(array, copy=True)
