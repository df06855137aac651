"""The checks of what `jlstm.convert` reads: foreign arrays, keys, containers and options.

A wrong type or structure (not a mapping or a list, a missing attribute, a non-float
dtype, a stack where one layer belongs) is an `LSTMTypeError`; a wrong shape, size, count,
key or value an `LSTMValueError`. Foreign arrays are read with NumPy only (`array`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import jax.numpy as jnp
import numpy as np

from jlstm._errors import LSTMTypeError, fail, shape_str
from jlstm._validation.values import flag, size


def array(fn: str, arg: str, value: Any) -> np.ndarray:
    """Read a foreign weight as a floating NumPy array; a torch tensor is detached first."""
    detach = getattr(value, "detach", None)
    if callable(detach):  # drop autograd and move to host memory, without importing torch
        value = detach().cpu()
    try:
        result = np.asarray(value)
    except (TypeError, RuntimeError, ValueError) as error:
        actual = f"{type(value).__name__} ({error})"
        hint = "Convert it to float32 first (torch: `tensor.float()`)."
        fail(fn, arg, "an array that NumPy can read", actual, hint, kind=LSTMTypeError)
    if not jnp.issubdtype(result.dtype, jnp.floating):
        fail(fn, arg, "a real floating-point array", f"dtype {result.dtype}", kind=LSTMTypeError)
    return result


def absent(fn: str, arg: str) -> NoReturn:
    """Reject a weight that the format requires but that is None."""
    fail(fn, arg, "an array", "None", kind=LSTMTypeError)


def shape(
    fn: str, arg: str, value: np.ndarray, expected: Sequence[int | str], hint: str | None = None
) -> None:
    """Check `value.shape` against `expected`, whose str entries are free, named sizes."""
    fits = value.ndim == len(expected) and all(
        isinstance(want, str) or have == want
        for have, want in zip(value.shape, expected, strict=False)
    )
    if not fits:
        names = ", ".join(str(want) for want in expected) + ("," if len(expected) == 1 else "")
        fail(fn, arg, f"of shape ({names})", f"shape {shape_str(value.shape)}", hint)


def gate_rows(fn: str, arg: str, value: np.ndarray, axis: int, layout: Sequence[int | str]) -> int:
    """Check a gate-stacked array against `layout` and return its hidden_size."""
    shape(fn, arg, value, layout)
    gates = value.shape[axis]
    if gates == 0 or gates % 4:
        names = ", ".join(map(str, layout))
        expected = f"of shape ({names}) with 4 equal gate blocks on axis {axis}"
        fail(fn, arg, expected, f"shape {shape_str(value.shape)}")
    return gates // 4


def container(
    fn: str, arg: str, value: Any, kind: Any, expected: str, hint: str | None = None
) -> Any:
    """Check the type of a container (a mapping, a list, params) and return it."""
    if not isinstance(value, kind):
        fail(fn, arg, expected, type(value).__name__, hint, kind=LSTMTypeError)
    return value


def keys(fn: str, arg: str, tree: Mapping[Any, Any], names: Sequence[str]) -> None:
    """Check that a mapping holds exactly the keys `names`."""
    for name in names:
        if name not in tree:
            fail(fn, arg, f"a mapping with the key {name!r}", f"keys {sorted(tree)}")
    for name in sorted(set(tree) - set(names)):
        fail(fn, arg, f"a mapping with only the keys {sorted(names)}", f"the extra key {name!r}")


def any_key(fn: str, arrays: Mapping[str, Any], prefix: str) -> None:
    """Check that a state dict holds keys (starting with `prefix`)."""
    if not arrays:
        wanted = f"keys starting with {prefix!r}" if prefix else "keys"
        actual = f"no key starting with {prefix!r}" if prefix else "an empty state dict"
        fail(fn, "state_dict", f"a state dict with {wanted}", actual)


def missing_key(fn: str, key: str, present: Sequence[str]) -> NoReturn:
    """Reject a state dict without `key` (or with None there)."""
    if key in present:
        absent(fn, f"state_dict[{key!r}]")
    listed = ", ".join(repr(name) for name in sorted(present))
    fail(fn, "state_dict", f"a state dict with the key {key!r}", f"only {listed}")


def unknown_keys(fn: str, names: Sequence[str], target: str, hint: str) -> None:
    """Reject a state dict with keys (`names`, the first is named) that are no `target`'s."""
    for name in names:
        fail(fn, "state_dict", f"a {target} state dict", f"the key {name!r}", hint)


def count(fn: str, arg: str, found: int, names: Sequence[str], required: int) -> int:
    """Check a list of 1 or 2 directions of `names` (after `required`, optional); per direction."""
    most = len(names)
    if found not in (required, most, 2 * required, 2 * most):
        one = f"{required} or {most} arrays (LSTM: {', '.join(names)})"
        fail(fn, arg, f"{one} or {2 * required} or {2 * most} (Bidirectional)", f"{found} arrays")
    return found if found <= most else found // 2


def attributes(fn: str, arg: str, value: Any, names: Sequence[str], target: str) -> None:
    """Check that an object has the fields of the `target` cell."""
    for name in names:
        if not hasattr(value, name):
            expected = f"an {target} (with a `{name}` field)"
            fail(fn, arg, expected, type(value).__name__, kind=LSTMTypeError)


def leaves(
    fn: str, arg: str, value: Any, found: Sequence[Any], wanted: Sequence[str], target: str
) -> None:
    """Check that the pytree `value` (a `target`) has a leaf `arg.<name>` for each `wanted`."""
    if not set(wanted) <= set(found):
        expected = f"a pytree with the leaves {', '.join(f'{arg}.{name}' for name in wanted)}"
        hint = f"Pass an {target}."
        fail(fn, arg, expected, type(value).__name__, hint, kind=LSTMTypeError)


def choice(fn: str, arg: str, value: Any, options: Sequence[str]) -> None:
    """Check that `value` is one of the strings `options`."""
    if not isinstance(value, str) or value not in options:
        fail(fn, arg, f"one of {', '.join(map(repr, options))}", repr(value))


def options(fn: str, sizes: Mapping[str, Any], flags: Mapping[str, Any]) -> None:
    """Check options that say what a format holds: sizes (positive ints) and flags."""
    for arg, value in sizes.items():
        size(fn, arg, value)
    for arg, value in flags.items():
        flag(fn, arg, value)


def length(fn: str, arg: str, vector: np.ndarray, expected: int, options: str) -> None:
    """Check that a flat weight vector holds `expected` numbers, as `options` imply."""
    if vector.shape != (expected,):
        fail(fn, arg, f"of shape ({expected},) for {options}", f"shape {shape_str(vector.shape)}")
