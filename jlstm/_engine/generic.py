"""The LSTM as a cell for `jlstm.scan`: variants and gate traces.

`jlstm.lstm` runs the LSTM kernel (`jlstm._engine.kernel`) for the core equations with
every sequence option; layers with variants (peephole, layer norm, CIFG) and
`return_gates=True` step this cell with the generic runner instead, under the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jlstm import _dropout as dropout
from jlstm import _variants as variants
from jlstm._cell import cast_weights
from jlstm._types import LSTMParams, LSTMState
from jlstm._variants import GateTrace


def noisy_cell(
    params: LSTMParams,
    dtype: Any,
    rates: dropout.Rates,
    recurrent_mask: jax.Array | None,
    return_gates: bool,
) -> Callable[[Any, LSTMState, tuple], tuple[LSTMState, Any]]:
    """The cell `(_, state, (x, zone_h, zone_c)) -> (state, y)` of one LSTM layer.

    The recurrent dropout mask hides units of `h` from `W_hh` only; zoneout pulls the new
    state towards the old one. `y` is `h`, or a `GateTrace` with `return_gates`.
    """
    prepared = variants.prepare_variants(params)

    def step(_: Any, state: LSTMState, inputs: tuple) -> tuple[LSTMState, Any]:
        x, zone_h, zone_c = inputs
        weights = prepared._replace(cell=cast_weights(prepared.cell, dtype))
        seen = state if recurrent_mask is None else state._replace(h=state.h * recurrent_mask)
        new, trace = variants.step(weights, seen, x)
        new = dropout.zoneout(state, new, rates, zone_h, zone_c)
        return new, trace if return_gates else new.h

    return step


def read_out(state: LSTMState, y: Any) -> Any:
    """A step's output read from its carried state: `h` (and `c` of a `GateTrace`).

    Read from the state itself, not from the cell's copy of it, which XLA may compute in
    another fusion and round differently.
    """
    return state.h if not isinstance(y, GateTrace) else y._replace(h=state.h, c=state.c)


def initial_output(state: LSTMState, return_gates: bool) -> Any:
    """What a masked step outputs before any step was read: the initial `h` (and `c`)."""
    if not return_gates:
        return state.h
    zeros = jnp.zeros_like(state.c)
    return GateTrace(state.h, state.c, zeros, zeros, zeros, zeros)
