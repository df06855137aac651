"""A stack of layers, each feeding its outputs to the next, with dropout in between."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from jlstm import _validation as checks
from jlstm._dropout import inverted as inverted_dropout
from jlstm._layers.bidirectional import bidirectional
from jlstm._layers.lstm import OPTIONS, lstm
from jlstm._public import public
from jlstm._types import Bidirectional, LSTMParams, LSTMState
from jlstm._validation import layers as layer_checks
from jlstm._validation import renamed

__all__ = ["stack"]

# `jlstm.lstm` options that a stack cannot pass on, and why.
UNSUPPORTED = {
    "return_gates": "Trace the gates of one layer with jlstm.lstm(..., return_gates=True).",
}

Layer = LSTMParams | Bidirectional
LayerState = LSTMState | Bidirectional


def _layer(
    params: Layer, xs: jax.Array, state: LayerState | None, merge_mode: str, **options: Any
) -> tuple[LayerState, jax.Array]:
    if isinstance(params, Bidirectional):
        return bidirectional(params, xs, state, merge_mode=merge_mode, **options)
    return lstm(params, xs, state, **options)


@public("jlstm")
def stack(
    params: Sequence[Layer],
    xs: jax.Array,
    state: Sequence[LayerState | None] | None = None,
    *,
    lengths: jax.Array | None = None,
    dropout: float = 0.0,
    key: jax.Array | None = None,
    deterministic: bool = False,
    time_major: bool = False,
    merge_mode: str = "concat",
    states: Sequence[LayerState | None] | None = None,
    **layer_options: Any,
) -> tuple[tuple[LayerState, ...], jax.Array]:
    """Run a stack of LSTM layers, each reading the outputs of the one before.

    A layer is an `LSTMParams` (run by `jlstm.lstm`) or a `Bidirectional` (run by
    `jlstm.bidirectional`); layers may differ in size and kind, as long as each takes the
    previous layer's output size as input. `jlstm.init_stack` builds the stacks of
    `torch.nn.LSTM(num_layers, bidirectional, proj_size)`.

    Dropout follows `torch.nn.LSTM(dropout=...)`: each element of the outputs of every
    layer except the last is zeroed with probability `dropout`, and the kept ones are
    scaled by `1 / (1 - dropout)`, so the expected input of each layer is unchanged and
    evaluation simply uses `dropout=0.0`.

    Args:
      params: a tuple of layers, e.g. from `jlstm.init_stack`.
      xs: inputs of shape `(*batch, time, input_size)`, or `(time, *batch, input_size)`
        with `time_major=True`.
      state: the initial state, a tuple with one per layer: an `LSTMState` for an
        `LSTMParams` layer, a `Bidirectional` of `LSTMState` for a bidirectional one, or None
        for zeros. None gives zeros to every layer.
      lengths: `(*batch,)` integers marking right-padded sequences, passed to every layer
        (see `jlstm.lstm`); outputs at padded steps are exactly 0.
      dropout: the probability of dropping an output element between layers, in [0, 1).
      key: PRNG key, split into one key per layer for the dropout after it and for the
        layer options that draw noise (e.g. `input_dropout`). A nonzero rate without a
        key raises, unless `deterministic=True`.
        Under `jax.vmap` over examples, map over keys too, or every example gets one mask.
      deterministic: evaluation mode, as in Flax: no dropout anywhere (zoneout by its
        expectation), no key needed.
      time_major: whether time is the leading axis of `xs` and of the outputs.
      merge_mode: how bidirectional layers merge their directions: `"concat"`, `"sum"`,
        `"mean"` or `"mul"` (see `jlstm.bidirectional`). It must be the `merge_mode` given
        to `jlstm.init_stack`, because the input size of the next layer depends on it:
        `"sum"`, `"mean"` and `"mul"` keep one direction's size, `"concat"` doubles it.
      states: deprecated name of `state`.
      **layer_options: passed to every `jlstm.lstm` call (e.g. `unroll`, `remat`, `dtype`,
        `input_dropout`); not `return_gates`. `reverse=True` runs the one-direction layers
        backward in time; a bidirectional layer refuses it, as it already runs both ways
        and reversing it would only swap which of its directions is called forward.

    Returns:
      `(final_states, ys)`: a tuple with the final state of each layer, in the structure of
      `state`, and the last layer's outputs of shape `(*batch, time, features)` (or
      time-major).

    Example:
      >>> import jax, jax.numpy as jnp, jlstm
      >>> key_params, key_dropout = jax.random.split(jax.random.key(0))
      >>> params = jlstm.init_stack(key_params, 4, 8, num_layers=2, bidirectional=True)
      >>> xs = jnp.ones((3, 5, 4))  # (batch, time, input_size)
      >>> run = jax.jit(jlstm.stack, static_argnames="dropout")
      >>> states, ys = run(params, xs, dropout=0.2, key=key_dropout)
      >>> ys.shape, len(states), states[1].backward.c.shape
      ((3, 5, 16), 2, (3, 8))
    """
    layer_checks.merge_mode("stack", merge_mode, allow_none=False)
    layer_checks.stack_params("stack", params, merge_mode, layer_options.get("dtype"))
    state = renamed("stack", "states", "state", states, state, None)
    layer_states = layer_checks.stack_states("stack", state, params)
    layer_checks.unsupported_options("stack", layer_options, UNSUPPORTED)
    layer_checks.known_options("stack", layer_options, OPTIONS)
    rate = checks.rate("stack", "dropout", dropout)
    checks.noise_key("stack", key, deterministic, {"dropout": rate})
    options = dict(
        layer_options, lengths=lengths, time_major=time_major, deterministic=deterministic
    )
    if key is not None:
        # Per layer: one key for its own options, one for the dropout on its outputs.
        layer_keys, dropout_keys = jax.random.split(key, (2, len(params)))
    final_states = []
    for k, (layer, layer_state) in enumerate(zip(params, layer_states, strict=True)):
        if k and rate and key is not None:
            xs = inverted_dropout(dropout_keys[k - 1], xs, rate)
        if key is not None:
            options["key"] = layer_keys[k]
        with layer_checks.context(f"(in layer {k} of the stack: `params[{k}]`, `state[{k}]`)"):
            layer_state, xs = _layer(layer, xs, layer_state, merge_mode, **options)
        final_states.append(layer_state)
    return tuple(final_states), xs
