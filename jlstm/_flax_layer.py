"""What the Flax modules share: option checks, parameter init, and the Keras-style call.

Plain jlstm code without Flax, so that the linen and the NNX module run the very same
functions on the very same params as a user of the functional API would.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax

from jlstm import _checks as checks
from jlstm import _checks_layers as layer_checks
from jlstm._bidirectional import MERGES, bidirectional
from jlstm._errors import fail, float_dtype, shape_str, size
from jlstm._init_stack import init_stack
from jlstm._params import Bidirectional, Initializer, LSTMParams, LSTMState
from jlstm._sequence import lstm
from jlstm._stack import stack

Params = LSTMParams | Bidirectional | tuple[LSTMParams | Bidirectional, ...]


class CallOptions(Protocol):
    """The options a call reads; both modules carry them under these names."""

    merge_mode: str
    dropout: float
    input_dropout: float
    recurrent_dropout: float
    time_major: bool
    return_sequences: bool
    return_state: bool
    dtype: Any
    unroll: int | bool
    remat: bool
    jvp: bool


class Options(CallOptions, Protocol):
    """Every option of the modules: those of a call, and those that build the params."""

    features: int
    num_layers: int
    bidirectional: bool
    proj_size: int | None
    bias: bool
    forget_bias: float
    weight_ih_init: Initializer
    weight_hh_init: Initializer
    weight_hr_init: Initializer
    bias_init: Initializer
    param_dtype: Any
    checks: bool


def check_options(fn: str, options: Options) -> None:
    """Check the options that decide the traced program; raise naming `fn` and the option."""
    size(fn, "features", options.features)
    size(fn, "num_layers", options.num_layers)
    size(fn, "proj_size", options.proj_size, allow_none=True)
    if options.proj_size is not None and options.proj_size >= options.features:
        fail(fn, "proj_size", f"smaller than features={options.features}", options.proj_size)
    flags = ("bidirectional", "bias", "time_major", "return_sequences", "return_state")
    for name in (*flags, "remat", "jvp", "checks"):
        checks.flag(fn, name, getattr(options, name))
    layer_checks.merge_mode(fn, options.merge_mode, allow_none=False)
    for name in ("dropout", "input_dropout", "recurrent_dropout"):
        checks.rate(fn, name, getattr(options, name))
    if options.dropout and options.num_layers == 1:
        fail(
            fn,
            "dropout",
            "0.0 for one layer (it drops the outputs between stacked layers)",
            options.dropout,
            "Keras' `dropout` of the inputs is called `input_dropout` here.",
        )
    float_dtype(fn, "param_dtype", options.param_dtype)
    checks.compute_dtype(fn, options.dtype)


def input_size(fn: str, xs: Any) -> int:
    """The features of `xs`, which sizes the first layer at init."""
    checks.array(fn, "xs", xs)
    if xs.ndim < 2:
        fail(fn, "xs", "of shape (*batch, time, input_size)", f"shape {shape_str(xs.shape)}")
    return xs.shape[-1]


def noisy(options: CallOptions) -> bool:
    """Whether a call draws dropout masks, so that it needs a key unless deterministic."""
    return bool(options.dropout or options.input_dropout or options.recurrent_dropout)


def deterministic_flag(fn: str, attribute: bool | None, argument: bool | None) -> bool:
    """The call's `deterministic`: the call argument if given, else the attribute."""
    value = attribute if argument is None else argument
    if value is None:
        fail(
            fn,
            "deterministic",
            "True or False (the module has dropout)",
            None,
            "Pass it to the constructor or at call time: deterministic=True for evaluation, "
            "False for training.",
        )
    checks.flag(fn, "deterministic", value)
    return bool(value)


def init_params(options: Options, key: jax.Array, input_size: int) -> Params:
    """Draw the params: one layer as `LSTMParams` / `Bidirectional`, more as a stack tuple.

    Layer k > 0 reads the merged outputs of layer k - 1: both directions side by side
    for `merge_mode="concat"`, else one direction's size. Each layer comes from its own
    key of `jax.random.split(key, num_layers)`.
    """
    out_size = options.proj_size or options.features
    if options.bidirectional and options.merge_mode == "concat":
        out_size *= 2
    layers = []
    for k, layer_key in enumerate(jax.random.split(key, options.num_layers)):
        (layer,) = init_stack(
            layer_key,
            input_size if k == 0 else out_size,
            options.features,
            bidirectional=options.bidirectional,
            proj_size=options.proj_size,
            bias=options.bias,
            forget_bias=options.forget_bias,
            dtype=options.param_dtype,
            weight_ih_init=options.weight_ih_init,
            weight_hh_init=options.weight_hh_init,
            weight_hr_init=options.weight_hr_init,
            bias_init=options.bias_init,
        )
        layers.append(layer)
    return layers[0] if options.num_layers == 1 else tuple(layers)


def _state_structure(params: Params) -> Any:
    """The final-state pytree that the functional API returns for `params` (leaves 0)."""

    def layer(item: LSTMParams | Bidirectional) -> LSTMState | Bidirectional:
        if isinstance(item, Bidirectional):
            return Bidirectional(LSTMState(0, 0), LSTMState(0, 0))
        return LSTMState(0, 0)

    return (
        layer(params)
        if isinstance(params, LSTMParams | Bidirectional)
        else tuple(map(layer, params))
    )


def _is_flat(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and not isinstance(value, LSTMState | Bidirectional)
        and bool(value)
        and all(hasattr(item, "shape") for item in value)
    )


def initial_state(fn: str, params: Params, value: Any) -> Any:
    """Accept the functional API's state, or the flat `[h, c, ...]` list that Keras takes.

    The flat list is what `return_state=True` returns after the output: layer by layer,
    forward before backward, `h` before `c`.
    """
    if not _is_flat(value):
        return value
    structure = jax.tree.structure(_state_structure(params))
    if len(value) != structure.num_leaves:
        expected = (
            f"the state of the functional API, or a flat list of {structure.num_leaves} arrays "
            "(h, c of each layer and direction, as return_state=True returns them)"
        )
        fail(fn, "initial_state", expected, f"{len(value)} arrays")
    return jax.tree.unflatten(structure, value)


def _last_output(final_state: Any, merge_mode: str) -> jax.Array:
    # The output after the last valid step: the final h of each direction. For the
    # backward direction that is its output at step 0, as in Keras' Bidirectional.
    if isinstance(final_state, LSTMState):
        return final_state.h
    return MERGES[merge_mode](final_state.forward.h, final_state.backward.h)


def call(
    fn: str,
    options: CallOptions,
    params: Params,
    xs: jax.Array,
    initial: Any,
    *,
    lengths: jax.Array | None,
    key: jax.Array | None,
    run_checks: bool,
) -> jax.Array | tuple[jax.Array, ...]:
    """Run `params` over `xs` with the functional API and shape the result like Keras.

    `run_checks` is `jlstm.lstm`'s `checks`: the module's option, off while initialising.

    Returns the outputs `(*batch, time, features)` (`return_sequences=True`) or the last
    output `(*batch, features)`; with `return_state=True`, a tuple of it followed by the
    final `h` and `c` of every layer and direction.
    """
    initial = initial_state(fn, params, initial)
    with layer_checks.context(f"(called by jlstm.{fn})"):
        final_state, ys = _run(options, params, xs, initial, lengths, key, run_checks)
    last_layer = final_state if isinstance(params, LSTMParams | Bidirectional) else final_state[-1]
    output = ys if options.return_sequences else _last_output(last_layer, options.merge_mode)
    if not options.return_state:
        return output
    return (output, *jax.tree.leaves(final_state))


def _run(
    options: CallOptions,
    params: Params,
    xs: jax.Array,
    initial: Any,
    lengths: jax.Array | None,
    key: jax.Array | None,
    run_checks: bool,
) -> tuple[Any, jax.Array]:
    """The functional API's run of `params`: `jlstm.lstm`, `bidirectional` or `stack`."""
    layer_options = {
        "lengths": lengths,
        "time_major": options.time_major,
        "dtype": options.dtype,
        "input_dropout": options.input_dropout,
        "recurrent_dropout": options.recurrent_dropout,
        "key": key,
        "unroll": options.unroll,
        "remat": options.remat,
        "jvp": options.jvp,
        "checks": run_checks,
    }
    if isinstance(params, LSTMParams):
        return lstm(params, xs, initial, **layer_options)
    merge_mode = options.merge_mode
    if isinstance(params, Bidirectional):
        return bidirectional(params, xs, initial, merge_mode=merge_mode, **layer_options)
    dropout = options.dropout
    return stack(params, xs, initial, dropout=dropout, merge_mode=merge_mode, **layer_options)
