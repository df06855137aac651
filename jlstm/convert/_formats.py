"""The weight formats of other LSTM implementations, as data that one engine reads.

A `Format` says where a format keeps each `LSTMParams` field and how: its key (a state
dict key, a list role, an attribute, a path into nested mappings or a name in a flat
vector), whether it is transposed (kept for right-multiplication, `x @ kernel`), split
into two biases that add up or into one block per gate, the gate order, the rules that a
stack must follow and the order of the state. `_engine` reads and writes any format, and
a container (`_containers`) takes each kind of object apart and puts it together again.
Adding a framework is writing a `Format`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

from jlstm._validation import conversions

Key = str | tuple[str, ...]  # a key, attribute or list role; (block, leaf) in nested mappings
Rule = Callable[[str, list[conversions.Layer], str], None]  # (fn, exported layers, format name)

GATES = "ifgo"  # jlstm's gate order, PyTorch's


class Field(NamedTuple):
    """Where one `LSTMParams` field is kept, and how it is laid out there."""

    name: str  # the LSTMParams field: weight_ih, weight_hh, bias or weight_hr
    keys: tuple[Key, ...]  # one key, or one per part (see `parts`)
    # "whole": one array; "sum": two biases that add up (written as (sum, zeros));
    # "gates": one block per gate, the keys in the format's gate order.
    parts: Literal["whole", "sum", "gates"] = "whole"
    transposed: bool = False  # kept as (in, out) for right-multiplication
    optional: bool = False  # may be left out (no bias, no projection)


class Format(NamedTuple):
    """One framework's weight format: what the engine needs to read and write it."""

    family: str  # the framework, as messages name it
    name: str  # its layer, as messages name it
    fields: tuple[Field, ...]  # in the order the format keeps them
    read: tuple[str, ...]  # the order the fields are checked in; the first gives hidden_size
    gates: str = GATES  # the gate order of the format
    hidden_name: str = "hidden_size"  # the format's name of hidden_size, in messages
    projection: bool = False  # whether it has weight_hr (LSTMP)
    bias_always: bool = False  # whether it always has a bias: params without one give zeros
    arrays: Literal["numpy", "jax"] = "numpy"  # what the export returns
    rules: tuple[Rule, ...] = ()  # what a stack must satisfy (`jlstm._validation.foreign`)
    layer_key: str = ""  # state dicts: the key's layer suffix, then the layer number, ...
    reverse_key: str = ""  # ... and then this for the backward direction
    wrap: str | None = None  # nested mappings: the key around the params
    markers: tuple[str, ...] = ()  # nested mappings: keys that tell this layout apart
    packing: tuple[tuple[str, ...], ...] = ()  # flat vectors: groups of keys, one after another
    carry: tuple[tuple[str, str], ...] = (("h", "h"), ("c", "c"))  # state: (field, name), in order


TORCH = Format(
    family="PyTorch",
    name="torch.nn.LSTM",
    fields=(
        Field("weight_ih", ("weight_ih",)),
        Field("weight_hh", ("weight_hh",)),
        Field("bias", ("bias_ih", "bias_hh"), parts="sum", optional=True),
        Field("weight_hr", ("weight_hr",), optional=True),
    ),
    read=("weight_ih", "weight_hr", "weight_hh", "bias"),
    projection=True,
    rules=(conversions.same_directions, conversions.uniform_layers),
    layer_key="_l",
    reverse_key="_reverse",
    carry=(("h", "h_n"), ("c", "c_n")),
)
TORCH_CELL = TORCH._replace(name="torch.nn.LSTMCell", projection=False, layer_key="")

KERAS = Format(
    family="Keras",
    name="Keras' LSTM",
    fields=(
        Field("weight_ih", ("kernel",), transposed=True),
        Field("weight_hh", ("recurrent_kernel",), transposed=True),
        Field("bias", ("bias",), optional=True),
    ),
    read=("weight_hh", "weight_ih", "bias"),
    hidden_name="units",
    rules=(conversions.bias_in_both_directions,),
)


def _per_gate(input_blocks: tuple[str, ...]) -> tuple[Field, ...]:
    """Flax's LSTMCell: one Dense block per gate for the input (kernel) and h (kernel, bias)."""
    hidden_blocks = tuple(f"h{gate}" for gate in GATES)
    return (
        Field("weight_ih", tuple((b, "kernel") for b in input_blocks), "gates", transposed=True),
        Field("weight_hh", tuple((b, "kernel") for b in hidden_blocks), "gates", transposed=True),
        Field("bias", tuple((b, "bias") for b in hidden_blocks), "gates"),
    )


FLAX_LINEN = Format(
    family="Flax",
    name="Flax's LSTMCell",
    fields=_per_gate(("ii", "if", "ig", "io")),
    read=("weight_ih", "weight_hh", "bias"),
    bias_always=True,
    arrays="jax",
    wrap="params",
    carry=(("c", "c"), ("h", "h")),
)
FLAX_NNX = FLAX_LINEN._replace(
    fields=_per_gate(("ii", "if_", "ig", "io")), wrap=None, markers=("if_",)
)
FLAX_NNX_OPTIMIZED = FLAX_LINEN._replace(
    fields=(
        Field("weight_ih", (("dense_i", "kernel"),), transposed=True),
        Field("weight_hh", (("dense_h", "kernel"),), transposed=True),
        Field("bias", (("dense_h", "bias"),)),
    ),
    read=("weight_hh", "bias", "weight_ih"),
    wrap=None,
    markers=("dense_i", "dense_h"),
)
FLAX = {"linen": FLAX_LINEN, "nnx": FLAX_NNX, "nnx_optimized": FLAX_NNX_OPTIMIZED}

EQUINOX = Format(
    family="Equinox",
    name="equinox.nn.LSTMCell",
    fields=(
        Field("weight_ih", ("weight_ih",)),
        Field("weight_hh", ("weight_hh",)),
        Field("bias", ("bias",), optional=True),
    ),
    read=("weight_ih", "weight_hh", "bias"),
    arrays="jax",
)

CUDNN = Format(
    family="cuDNN",
    name="cuDNN's LSTM",
    fields=(
        Field("weight_ih", ("W_ih",)),
        Field("weight_hh", ("W_hh",)),
        Field("bias", ("b_ih", "b_hh"), parts="sum"),
    ),
    read=("weight_ih", "weight_hh", "bias"),
    bias_always=True,
    arrays="jax",
    rules=(conversions.same_directions, conversions.chained_layers),
    packing=(("W_ih", "W_hh"), ("b_ih", "b_hh")),  # every W_ih and W_hh, then every bias
)
