"""The kinds of objects that foreign weights come in, taken apart and put together again.

Each kind is read into one `_engine.Source` per direction (layers of one or two) and
written from the engine's laid-out directions, as a `Format` describes it:

- a state dict: keys ending in the format's layer and reverse suffixes (PyTorch);
- a list of arrays in the order of the format's keys, one group per direction (Keras);
- an object's attributes, written back as its pytree leaves (Equinox);
- nested mappings of `(block, leaf)` paths, the layout told apart by marker keys (Flax);
- a flat vector of groups of keys, one pseudo-layer after another (cuDNN).

Every check is a call into `jlstm._validation.foreign`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import jax
import numpy as np

from jlstm._validation import foreign
from jlstm.convert._engine import Source, Stored, output, stored_shapes
from jlstm.convert._formats import Format, Key

Cell = TypeVar("Cell")
Layers = list[list[Source]]


def read_keys(
    fn: str, fmt: Format, cell: Format, state_dict: Any, prefix: str
) -> tuple[Format, Layers]:
    """Take a state dict apart, of a stack (`fmt`) or, without layer suffixes, of a `cell`."""
    arrays = {
        str(key)[len(prefix) :]: value
        for key, value in foreign.container(
            fn, "state_dict", state_dict, Mapping, "a mapping"
        ).items()
        if not prefix or str(key).startswith(prefix)
    }
    foreign.any_key(fn, arrays, prefix)
    names = "|".join(re.escape(key) for key in _keys(fmt))
    layer, reverse = re.escape(fmt.layer_key), re.escape(fmt.reverse_key)
    pattern = re.compile(rf"({names})(?:{layer}(\d+)({reverse})?)?")
    matches = {name: pattern.fullmatch(name) for name in arrays}
    target = f"{fmt.name} or {cell.name}"
    hint = "Select the LSTM's keys with prefix=, e.g. 'lstm.'."
    foreign.unknown_keys(fn, [prefix + n for n, m in matches.items() if m is None], target, hint)
    ids = [int(match.group(2)) for match in matches.values() if match.group(2) is not None]
    chosen, suffixes = cell, [[""]]
    if ids:
        count = 2 if any(match.group(3) for match in matches.values()) else 1
        chosen = fmt
        suffixes = [[_suffix(fmt, k, d) for d in range(count)] for k in range(max(ids) + 1)]
    taken = {key + suffix for key in _keys(fmt) for layer in suffixes for suffix in layer}
    hint = f"{fmt.name} keys end in {fmt.layer_key}{{k}} and {cell.name} keys do not."
    foreign.unknown_keys(fn, [prefix + name for name in sorted(set(arrays) - taken)], target, hint)
    present = [prefix + name for name in arrays]

    def source(suffix: str) -> Source:
        found = {
            key: (f"state_dict[{prefix + key + suffix!r}]", arrays.get(key + suffix))
            for key in _keys(fmt)
        }
        return Source(found, lambda key: foreign.missing_key(fn, prefix + key + suffix, present))

    return chosen, [[source(suffix) for suffix in layer] for layer in suffixes]


def write_keys(fmt: Format, stack: list[list[Stored]]) -> dict[str, Any]:
    """Put a state dict together: each key with its layer and direction suffix."""
    return {
        f"{key}{_suffix(fmt, k, d)}": output(fmt, array)
        for k, layer in enumerate(stack)
        for d, stored in enumerate(layer)
        for key, array in stored.items()
    }


def read_list(fn: str, fmt: Format, weights: Any) -> tuple[Layers, bool]:
    """Take a list of arrays apart, or a list of such lists (a stack: the bool)."""
    expected = "a list of arrays, as `layer.get_weights()` returns"
    foreign.container(fn, "weights", weights, list | tuple, expected)
    if weights and all(isinstance(layer, list | tuple) for layer in weights):
        return [_list_layer(fn, fmt, f"weights[{k}]", w) for k, w in enumerate(weights)], True
    return [_list_layer(fn, fmt, "weights", weights)], False


def _list_layer(fn: str, fmt: Format, arg: str, weights: Sequence[Any]) -> list[Source]:
    keys = _keys(fmt)
    required = sum(len(field.keys) for field in fmt.fields if not field.optional)
    size = foreign.count(fn, arg, len(weights), [str(key) for key in keys], required)
    sources = []
    for start in range(0, len(weights), size):
        found = {
            key: (f"{arg}[{start + i}] ({key})", weights[start + i])
            for i, key in enumerate(keys[:size])
        }
        labels = {key: label for key, (label, _) in found.items()}
        sources.append(Source(found, lambda key, labels=labels: foreign.absent(fn, labels[key])))
    return sources


def write_list(fmt: Format, stack: list[list[Stored]], nested: bool) -> list[Any]:
    """Put lists together: each layer's directions one after another; `nested`: per layer."""
    lists = [[output(fmt, a) for stored in layer for a in stored.values()] for layer in stack]
    return lists if nested else lists[0]


def read_attributes(fn: str, fmt: Format, value: Any) -> Source:
    """Take an object apart by its attributes (a None attribute is left out)."""
    keys = [str(key) for key in _keys(fmt)]
    foreign.attributes(fn, "cell", value, keys, fmt.name)
    found = {key: (f"cell.{key}", getattr(value, key)) for key in keys}
    return Source(found, lambda key: foreign.absent(fn, f"cell.{key}"))


def write_attributes(fn: str, fmt: Format, cell: Cell, stored: Stored) -> Cell:
    """A copy of the pytree `cell` with the leaves at `cell.<key>` replaced, as `eqx.tree_at`."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(cell)
    names = [getattr(path[0], "name", None) if len(path) == 1 else None for path, _ in leaves]
    foreign.leaves(fn, "cell", cell, names, [str(key) for key in stored], fmt.name)
    replaced = [
        output(fmt, stored[name]) if name in stored else leaf
        for name, (_, leaf) in zip(names, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, replaced)


def read_tree(fn: str, formats: Iterable[Format], variables: Any) -> tuple[Format, Source]:
    """Take nested mappings apart, in the first of `formats` whose marker keys they hold."""
    formats = list(formats)
    path = "variables"
    expected = "a mapping of Flax params"
    tree = foreign.container(fn, path, variables, Mapping, expected)
    wraps = {fmt.wrap for fmt in formats if fmt.wrap}
    if len(tree) == 1 and set(tree) <= wraps:
        path += f"[{next(iter(tree))!r}]"
        tree = foreign.container(fn, path, next(iter(tree.values())), Mapping, expected)
    marked = [fmt for fmt in formats if set(fmt.markers) & set(tree)]
    fmt = (marked or [fmt for fmt in formats if not fmt.markers])[0]
    blocks: dict[str, list[str]] = {}
    for block, leaf in _keys(fmt):
        blocks.setdefault(block, []).append(leaf)
    foreign.keys(fn, path, tree, list(blocks))
    found = {}
    for block, leaves in blocks.items():
        block_path = f"{path}[{block!r}]"
        block_tree = foreign.container(fn, block_path, tree[block], Mapping, expected)
        foreign.keys(fn, block_path, block_tree, leaves)
        for leaf in leaves:
            found[block, leaf] = (f"{block_path}[{leaf!r}]", block_tree[leaf])
    labels = {key: label for key, (label, _) in found.items()}
    return fmt, Source(found, lambda key: foreign.absent(fn, labels[key]))


def write_tree(fmt: Format, stored: Stored) -> dict[str, Any]:
    """Put nested mappings together from `(block, leaf)` paths, wrapped if `fmt` wraps."""
    tree: dict[str, Any] = {}
    for (block, leaf), array in stored.items():
        tree.setdefault(block, {})[leaf] = output(fmt, array)
    return {fmt.wrap: tree} if fmt.wrap else tree


def read_vector(
    fn: str, fmt: Format, weights: Any, sizes: Mapping[str, Any], bidirectional: bool
) -> Layers:
    """Take a flat vector apart, for `sizes` input_size, hidden_size and num_layers."""
    foreign.options(fn, sizes, {"bidirectional": bidirectional})
    count, hidden = 1 + bool(bidirectional), sizes["hidden_size"]
    shapes = [
        stored_shapes(
            fmt, {"input": sizes["input_size"] if k == 0 else count * hidden, "hidden": hidden}
        )
        for k in range(sizes["num_layers"])
        for _ in range(count)
    ]
    vector = foreign.array(fn, "weights", weights)
    options = ", ".join(f"{arg}={value}" for arg, value in sizes.items())
    total = sum(math.prod(shape) for pseudo in shapes for shape in pseudo.values())
    foreign.length(fn, "weights", vector, total, f"{options}, bidirectional={bidirectional}")
    found: list[dict[Key, tuple[str, Any]]] = [{} for _ in shapes]
    offset = 0
    for group in fmt.packing:
        for pseudo, shape_of in zip(found, shapes, strict=True):
            for key in group:
                end = offset + math.prod(shape_of[key])
                pseudo[key] = (
                    f"weights[{offset}:{end}]",
                    vector[offset:end].reshape(shape_of[key]),
                )
                offset = end
    sources = [Source(arrays, partial(foreign.absent, fn)) for arrays in found]
    return [sources[k : k + count] for k in range(0, len(sources), count)]


def write_vector(fmt: Format, stack: list[list[Stored]]) -> Any:
    """Put a flat vector together: each group of keys for every pseudo-layer in turn."""
    pseudo = [stored for layer in stack for stored in layer]
    parts = [stored[key].ravel() for group in fmt.packing for stored in pseudo for key in group]
    return output(fmt, np.concatenate(parts))


def _keys(fmt: Format) -> list[Any]:
    return [key for field in fmt.fields for key in field.keys]


def _suffix(fmt: Format, layer: int, direction: int) -> str:
    if not fmt.layer_key:
        return ""
    return f"{fmt.layer_key}{layer}{fmt.reverse_key if direction else ''}"
