"""The one engine of the converters: it reads and writes every `Format` of `_formats`.

Import: a container (`_containers`) hands over one `Source` per direction, the arrays as
the format keeps them; `read` checks each against the shape its field implies, in the
format's `read` order (the first array gives hidden_size, the others must agree), and
builds `LSTMParams`. Export: `write` checks jlstm's params, applies the format's rules
and lays every direction out as the format keeps it. The rules of every format are here
once: the gate reorder, the bias pair (imported as its sum, exported as `(sum, zeros)`),
the per-gate blocks and the transposes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, NoReturn

import jax.numpy as jnp
import numpy as np

from jlstm._types import Bidirectional, LSTMParams, LSTMState
from jlstm._validation import conversions, foreign
from jlstm.convert._formats import GATES, Field, Format, Key

# The shape of each field in jlstm's layout, by named size ("gates" is 4*hidden and "out"
# is proj with a projection, else hidden).
DIMS = {
    "weight_ih": ("gates", "input"),
    "weight_hh": ("gates", "out"),
    "bias": ("gates",),
    "weight_hr": ("proj", "hidden"),
}

# One direction, as each field's key(s) of a format map to arrays in the format's layout.
Stored = dict[Key, np.ndarray]


class Source(NamedTuple):
    """The arrays of one direction, as a container holds them."""

    arrays: Mapping[Key, tuple[str, Any]]  # key -> (its name in messages, the raw array)
    missing: Callable[[Key], NoReturn]  # raises for a required key that is not there


def read(fn: str, fmt: Format, source: Source) -> LSTMParams:
    """Read and check one direction; the arrays are copied into jax arrays."""
    fields = {field.name: field for field in fmt.fields}
    sizes: dict[str, int] = {}
    values = {name: _read_field(fn, fmt, fields[name], source, sizes) for name in fmt.read}
    return LSTMParams(**{k: None if v is None else jnp.array(v) for k, v in values.items()})


def read_stack(
    fn: str, fmt: Format, layers: Sequence[Sequence[Source]], *, stack: bool | None = None
) -> Any:
    """Read layers of one or two directions into the structure every `from_X` returns.

    One unidirectional layer is an `LSTMParams`, one bidirectional layer a `Bidirectional`,
    a stack (`stack`, by default two or more layers) a tuple with one of those per layer.
    """
    items = tuple(
        Bidirectional(*params) if len(params) == 2 else params[0]
        for params in ([read(fn, fmt, source) for source in layer] for layer in layers)
    )
    return items if (len(items) > 1 if stack is None else stack) else items[0]


def write(
    fn: str, fmt: Format, params: Any, *, single: bool = False, zero_bias: bool | None = None
) -> list[list[Stored]]:
    """Check params and lay out every direction of every layer as `fmt` keeps it.

    Args:
      fn: the public function, for messages.
      fmt: the format.
      params: `LSTMParams`, a `Bidirectional` or a stack tuple; one `LSTMParams` if `single`.
      single: whether the format holds one cell.
      zero_bias: whether params without bias get a zero bias; by default `fmt.bias_always`.
    """
    layers = conversions.layers(fn, params, fmt.name if single else None)
    exported = []
    for name, directions in layers:
        exported.append((name, [(arg, conversions.exported(fn, arg, d)) for arg, d in directions]))
        for arg, arrays in exported[-1][1]:
            if not fmt.projection:
                conversions.no_projection(fn, arg, arrays.weight_hr, fmt.name)
    for rule in fmt.rules:
        rule(fn, exported, fmt.name)
    zeros = fmt.bias_always if zero_bias is None else zero_bias
    return [
        [_lay_out(fmt, arrays, zeros) for _, arrays in directions] for _, directions in exported
    ]


def output(fmt: Format, array: np.ndarray) -> Any:
    """An exported array as the format's users take it: C-ordered NumPy or jax."""
    return jnp.asarray(array) if fmt.arrays == "jax" else np.ascontiguousarray(array)


def stored_shapes(fmt: Format, sizes: Mapping[str, int]) -> dict[Key, tuple[int, ...]]:
    """The shape of every key of one direction, for `sizes` "input" and "hidden"."""
    shapes = {}
    for field in fmt.fields:
        shape = tuple(_size(dim, sizes) for dim in _stored_dims(field))
        shapes.update(dict.fromkeys(field.keys, shape))
    return shapes


def is_stack(value: Any) -> bool:
    """Whether params or states are a stack: a tuple (or list) of layers."""
    single = LSTMParams | LSTMState | Bidirectional
    return isinstance(value, tuple | list) and not isinstance(value, single)


def state_sizes(params: LSTMParams) -> dict[str, int]:
    """The features of `h` (out_size) and of `c` (hidden_size) of one direction."""
    out_size = params.weight_hh.shape[1]
    hidden_size = out_size if params.weight_hr is None else params.weight_hr.shape[1]
    return {"h": out_size, "c": hidden_size}


def _read_field(
    fn: str, fmt: Format, field: Field, source: Source, sizes: dict[str, int]
) -> np.ndarray | None:
    """Read one field from its key(s): all of them, or none if it is optional."""
    present = [source.arrays.get(key, (None, None))[1] is not None for key in field.keys]
    if field.optional and not any(present):
        return None
    for key, here in zip(field.keys, present, strict=True):
        if not here:
            source.missing(key)
    dims = _stored_dims(field)
    parts = []
    for key in field.keys:
        label, raw = source.arrays[key]
        array = foreign.array(fn, label, raw)
        _fit(fn, fmt, label, array, dims, sizes)
        parts.append(array.T if field.transposed else array)
    if field.parts == "sum":
        value = parts[0] + parts[1]
    else:
        value = np.concatenate(parts) if field.parts == "gates" else parts[0]
    return _reorder(field, value, fmt.gates, GATES)


def _lay_out(fmt: Format, arrays: LSTMParams, zero_bias: bool) -> Stored:
    """Lay out one exported direction (NumPy `LSTMParams`) as `fmt` keeps it."""
    if arrays.bias is None and zero_bias:
        arrays = arrays._replace(bias=np.zeros(arrays.weight_ih.shape[0], arrays.weight_ih.dtype))
    stored: Stored = {}
    for field in fmt.fields:
        value = getattr(arrays, field.name)
        if value is None:
            continue
        value = _reorder(field, value, GATES, fmt.gates)
        if field.parts == "sum":
            parts = [value, np.zeros_like(value)]
        else:
            parts = np.split(value, 4) if field.parts == "gates" else [value]
        for key, part in zip(field.keys, parts, strict=True):
            stored[key] = part.T if field.transposed else part
    return stored


def _reorder(field: Field, value: np.ndarray, source: str, target: str) -> np.ndarray:
    """Reorder the gate blocks (axis 0) of a gate-stacked field from `source` to `target`."""
    if "gates" not in DIMS[field.name]:
        return value
    blocks = np.split(value, 4)
    return np.concatenate([blocks[source.index(gate)] for gate in target])


def _stored_dims(field: Field) -> tuple[str, ...]:
    """The named sizes of each array of `field` as the format keeps it."""
    dims = DIMS[field.name]
    if field.parts == "gates":
        dims = ("hidden", *dims[1:])
    return dims[::-1] if field.transposed else dims


def _fit(
    fn: str,
    fmt: Format,
    label: str,
    array: np.ndarray,
    dims: tuple[str, ...],
    sizes: dict[str, int],
) -> None:
    """Check one array against `dims` and learn the sizes it is the first to show."""
    if "gates" in dims and "hidden" not in sizes:
        layout = _expected(fmt, dims, sizes)
        sizes["hidden"] = foreign.gate_rows(fn, label, array, dims.index("gates"), layout)
    foreign.shape(fn, label, array, _expected(fmt, dims, sizes))
    for dim, length in zip(dims, array.shape, strict=True):
        if dim in ("input", "proj", "hidden"):
            sizes.setdefault(dim, length)


def _size(dim: str, sizes: Mapping[str, int]) -> int | None:
    if dim == "gates":
        return 4 * sizes["hidden"] if "hidden" in sizes else None
    if dim == "out":
        return sizes.get("proj", sizes.get("hidden"))
    return sizes.get(dim)


def _expected(fmt: Format, dims: tuple[str, ...], sizes: Mapping[str, int]) -> tuple[Any, ...]:
    """The shape `dims` as far as `sizes` knows it, unknown sizes by name."""
    hidden = fmt.hidden_name
    names = {"gates": f"4*{hidden}", "hidden": hidden, "out": hidden, "input": "input_size"}
    names["proj"] = "proj_size"
    return tuple(names[dim] if _size(dim, sizes) is None else _size(dim, sizes) for dim in dims)
