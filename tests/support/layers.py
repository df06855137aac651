"""Layers run through the public API: dispatch by the params' type, directions, compiled runners."""

from __future__ import annotations

import jax

import jlstm
from jlstm import Bidirectional, LSTMParams


def run(params, xs, state=None, *, merge_mode="concat", **options):
    """`jlstm.lstm`, `jlstm.bidirectional` or `jlstm.stack`, chosen by the type of `params`."""
    if isinstance(params, LSTMParams):
        return jlstm.lstm(params, xs, state, **options)
    if isinstance(params, Bidirectional):
        return jlstm.bidirectional(params, xs, state, merge_mode=merge_mode, **options)
    return jlstm.stack(params, xs, state, merge_mode=merge_mode, **options)


def directions(layer):
    """The `LSTMParams` (or `LSTMState`) of a layer in PyTorch's order: forward, then reverse."""
    return tuple(layer) if isinstance(layer, Bidirectional) else (layer,)


def flat_states(states):
    """The `LSTMState` of each direction of each layer of a stack, in PyTorch's order."""
    return [state for layer in states for state in directions(layer)]


# The public runners compiled whole. An eager call compiles each of its many small operations
# on its own; a test that makes a call once is several times quicker with one program.
LSTM_STATIC = (
    "reverse",
    "time_major",
    "unroll",
    "remat",
    "dtype",
    "input_dropout",
    "recurrent_dropout",
    "zoneout_h",
    "zoneout_c",
    "deterministic",
    "return_gates",
    "checks",
)
jit_lstm = jax.jit(jlstm.lstm, static_argnames=LSTM_STATIC)
jit_cell = jax.jit(jlstm.lstm_cell, static_argnames=("dtype", "return_gates"))
jit_scan = jax.jit(
    jlstm.scan, static_argnums=0, static_argnames=("reverse", "time_major", "unroll", "remat")
)
