"""What the Flax modules share: option checks, parameter init, and the Keras-style call.

Plain jlstm code without Flax, so that the linen and the NNX module run the very same
functions on the very same params as a user of the functional API would.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp

from jlstm import _validation as checks
from jlstm._init import Initializer
from jlstm._init_stack import init_stack
from jlstm._layers.bidirectional import MERGES, bidirectional
from jlstm._layers.lstm import lstm
from jlstm._layers.stack import stack
from jlstm._types import Bidirectional, LSTMParams, LSTMState, merged_size
from jlstm._validation import layers as layer_checks

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


def inputs(fn: str, options: CallOptions, xs: Any) -> Any:
    """Read `xs` as an array and check that it has the axes of the module's layout.

    Both modules check here, so that they word a wrong `xs` alike; `jlstm.lstm` checks
    the rest (dtype, feature size).
    """
    xs = checks.as_array(fn, "xs", xs)
    checks.array(fn, "xs", xs)
    layout = "(time, *batch, input_size)" if options.time_major else "(*batch, time, input_size)"
    checks.rank(fn, "xs", xs, layout)
    return xs


def input_size(fn: str, options: CallOptions, xs: Any) -> int:
    """The features of `xs`, which sizes the first layer at init."""
    return inputs(fn, options, xs).shape[-1]


def noisy(options: CallOptions) -> bool:
    """Whether a call draws dropout masks, so that it needs a key unless deterministic."""
    return bool(options.dropout or options.input_dropout or options.recurrent_dropout)


def init_params(options: Options, key: jax.Array, input_size: int) -> Params:
    """Draw the params: one layer as `LSTMParams` / `Bidirectional`, more as a stack tuple.

    Layer k > 0 reads the merged outputs of layer k - 1: both directions side by side
    for `merge_mode="concat"`, else one direction's size. Each layer comes from its own
    key of `jax.random.split(key, num_layers)`.
    """
    out_size = options.proj_size or options.features
    out_size = merged_size((out_size,) * (2 if options.bidirectional else 1), options.merge_mode)
    layers = []
    for k, layer_key in enumerate(jax.random.split(key, options.num_layers)):
        (layer,) = init_stack(
            layer_key,
            input_size if k == 0 else out_size,
            options.features,
            num_layers=1,
            bidirectional=options.bidirectional,
            proj_size=options.proj_size,
            bias=options.bias,
            forget_bias=options.forget_bias,
            param_dtype=options.param_dtype,
            weight_ih_init=options.weight_ih_init,
            weight_hh_init=options.weight_hh_init,
            weight_hr_init=options.weight_hr_init,
            bias_init=options.bias_init,
        )
        layers.append(layer)
    return layers[0] if options.num_layers == 1 else tuple(layers)


def initial_state(fn: str, params: Params, value: Any) -> Any:
    """Check the module's `initial_state` against the structure of `params`.

    It is the functional API's state: an `LSTMState` for one layer, a `Bidirectional` of
    them for one bidirectional layer, a tuple of those for a stack, or None for zeros. A
    bare tuple or list (a Flax carry `(c, h)`, Keras' `[h, c]`) is never read as a state.
    """
    if isinstance(params, LSTMParams):
        if value is not None:
            checks.state_type(fn, "initial_state", value)
    elif isinstance(params, Bidirectional):
        layer_state = layer_checks.layer_state
        layer_state(fn, "initial_state", value, "the module's params", bidirectional=True)
    else:
        layer_checks.stack_states(fn, value, params, "initial_state")
    return value


def compute_dtype(options: CallOptions, params: Params, xs: jax.Array) -> tuple[jax.Array, Any]:
    """The inputs and compute dtype of a call, by Flax's `dtype` convention (as `nn.Dense`).

    The module's `dtype` if set; else floating inputs and params are promoted to their
    common dtype: inputs of a lower precision are cast to the params' dtype, and params
    of a lower precision compute in the inputs' one (float64 data under x64).
    """
    params_dtype = jax.tree.leaves(params)[0].dtype
    floating = hasattr(xs, "dtype") and jnp.issubdtype(xs.dtype, jnp.floating)
    if options.dtype is not None or not floating:  # jlstm.lstm checks the rest
        return xs, options.dtype
    promoted = jnp.result_type(xs.dtype, params_dtype)
    if promoted == params_dtype:  # dtype None keeps the products in the params' dtype
        return xs.astype(params_dtype), None
    return xs, promoted


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
    mask: jax.Array | None,
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
    xs, dtype = compute_dtype(options, params, inputs(fn, options, xs))
    with layer_checks.context(f"(called by jlstm.{fn})"):
        steps = {"lengths": lengths, "mask": mask}
        final_state, ys = _run(options, params, xs, initial, steps, key, run_checks, dtype)
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
    steps: dict[str, jax.Array | None],
    key: jax.Array | None,
    run_checks: bool,
    dtype: Any,
) -> tuple[Any, jax.Array]:
    """The functional API's run of `params`: `jlstm.lstm`, `bidirectional` or `stack`.

    `steps` holds the call's `lengths` and `mask`.
    """
    layer_options = {
        **steps,
        "time_major": options.time_major,
        "dtype": dtype,
        "input_dropout": options.input_dropout,
        "recurrent_dropout": options.recurrent_dropout,
        "key": key,
        "deterministic": key is None,  # the modules draw a key unless deterministic
        "unroll": options.unroll,
        "remat": options.remat,
        "checks": run_checks,
    }
    if isinstance(params, LSTMParams):
        return lstm(params, xs, initial, **layer_options)
    merge_mode = options.merge_mode
    if isinstance(params, Bidirectional):
        return bidirectional(params, xs, initial, merge_mode=merge_mode, **layer_options)
    dropout = options.dropout
    return stack(params, xs, initial, dropout=dropout, merge_mode=merge_mode, **layer_options)
