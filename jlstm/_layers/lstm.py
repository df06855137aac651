"""A whole sequence: the LSTM equations stepped over time."""

from __future__ import annotations

import inspect
from typing import Any

import jax

from jlstm._engine import call as layer_call
from jlstm._public import public
from jlstm._types import LSTMParams, LSTMState
from jlstm._validation import layers as layer_checks
from jlstm._variants import GateTrace

__all__ = ["lstm"]


@public("jlstm")
def lstm(
    params: LSTMParams,
    xs: jax.Array,
    state: LSTMState | None = None,
    *,
    lengths: jax.Array | None = None,
    mask: jax.Array | None = None,
    resets: jax.Array | None = None,
    reverse: bool = False,
    time_major: bool = False,
    unroll: int | bool = 1,
    remat: bool = False,
    dtype: Any = None,
    input_dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    zoneout_h: float = 0.0,
    zoneout_c: float = 0.0,
    key: jax.Array | None = None,
    deterministic: bool = False,
    return_gates: bool = False,
    checks: bool = False,
) -> tuple[LSTMState, jax.Array | GateTrace]:
    """Run an LSTM layer over a sequence, with a fast derivative for every option.

    The core equations (with any of `lengths`, `mask`, `resets`, `reverse`, dropout,
    zoneout, `dtype`, `remat`, a projection and an initial state) run in one loop whose
    derivative keeps only the `(h, c)` recurrence in the loop and computes the weight and
    input gradients as single large matrix products outside it (see
    `jlstm._engine.kernel`). It is a `jax.custom_jvp`, so forward and reverse mode,
    `vmap`, `shard_map`, sharded meshes and `jax.export` all work with default
    arguments. Params with variants (`jlstm.init_lstm(..., peephole=True,
    layer_norm=True, cifg=True)`) and `return_gates` step the cell with `jlstm.scan`
    under the same rules.

    Args:
      params: an `LSTMParams`.
      xs: inputs of shape `(*batch, time, input_size)`, or `(time, *batch, input_size)` with
        `time_major=True`. Any number of batch dims, including none. A NaN at step `t` of
        one sequence reaches only that sequence's outputs and state from step `t` on. An
        infinite element is replaced by a finite one of its sign, large enough to
        saturate the gates it feeds and small enough that `W_ih x` cannot overflow
        (`max_float / (2 * input_size * max(1, max|W_ih|))`), so that outputs and
        gradients stay free of NaN. `checks=True` reports both.
      state: initial `LSTMState`; zeros when None.
      lengths: `(*batch,)` integers marking right-padded sequences. Outputs at padded steps
        are exactly 0 and the final state is the one after the last valid step (the initial
        state for length 0). Concrete lengths outside `[0, time]` raise; traced ones
        cannot, so they are clipped to that range (a negative length is an empty sequence,
        one above `time` a full one); `checks=True` reports them.
      mask: `(*batch, time)` booleans (`(time, *batch)` with `time_major`), for left-padded
        or gapped data, with Keras' semantics: a step where `mask` is False carries the
        state through unchanged and outputs the previous output (the carried `h`).
        Combines with `lengths` (steps past a length still output 0).
      resets: `(*batch, time)` booleans (layout as `mask`); True at step t starts a new
        segment: the state is reset to the initial `state` before step t, like Haiku's
        `ResetCore`. With `reverse=True` each segment is run backwards from its own last
        step, so the same flags cut the same segments. A flag on a masked step still
        resets; flags past a sequence's length are ignored.
      reverse: run from the last step to the first; with `lengths`, only the valid prefix
        is reversed and the padding stays at the end. Outputs stay aligned with inputs.
      time_major: whether time is the leading axis of `xs` and of the outputs.
      unroll: steps per loop iteration of the scan (see `jax.lax.scan`).
      remat: for long sequences, save the state only every `ceil(sqrt(time))` steps and
        recompute each such chunk in the backward pass (`jax.checkpoint`): memory for
        `O(sqrt(time))` steps instead of `O(time)`, one more forward pass, same gradients.
        With variants, `return_gates` or a symbolic number of steps (`jax.export`), each
        step of the scan is checkpointed instead.
      dtype: compute dtype of the matrix products (e.g. `jnp.bfloat16`); the state keeps
        the params' dtype and the outputs come back in `dtype`. Without it, `xs` must have
        the params' dtype.
      input_dropout: variational dropout rate of the inputs (Gal & Ghahramani 2016; Keras'
        `dropout`): one mask per sequence, reused at every step, kept units scaled by
        `1 / (1 - rate)`. Needs `key` (or `deterministic=True`: off).
      recurrent_dropout: the same on the `h` that enters `W_hh h` (Keras'
        `recurrent_dropout`); the carried state itself is not dropped.
      zoneout_h: zoneout rate of `h` (Krueger et al. 2017): with `key`, each unit keeps its
        previous value with this probability, afresh at every step; with
        `deterministic=True`, the expectation `rate * previous + (1 - rate) * new`.
      zoneout_c: the same for the cell state `c`.
      key: PRNG key for the dropout and zoneout masks. A nonzero rate without a key
        raises, unless `deterministic=True`.
      deterministic: evaluation mode, as in Flax: no dropout, zoneout by its expectation,
        no key needed.
      return_gates: return a `GateTrace` (outputs `h`, cell states `c` and gate
        activations `i, f, g, o`, each in the layout of `ys`) instead of `ys`.
      checks: check the values that tracing cannot see, while the program runs: traced
        `lengths` outside `[0, time]`, and NaN or ±inf in `xs` at a step that is read.
        They are `jax.experimental.checkify` checks: run the function through
        `jlstm.checked` (or `checkify.checkify`). Off, the program holds none of them.

    Returns:
      `(final_state, ys)`: `ys` of shape `(*batch, time, out_size)` (or time-major); or
      `(final_state, GateTrace)` with `return_gates=True`.

    Example:
      >>> import jax, jax.numpy as jnp, jlstm
      >>> params = jlstm.init_lstm(jax.random.key(0), input_size=4, hidden_size=2)
      >>> xs = jnp.ones((3, 5, 4))  # (batch, time, input_size)
      >>> state, ys = jax.jit(jlstm.lstm)(params, xs)
      >>> ys.shape, state.h.shape, bool(jnp.all(ys[:, -1] == state.h))
      ((3, 5, 2), (3, 2), True)
      >>> mask = jnp.array([[False, True, True, False, True]] * 3)  # skip steps 0 and 3
      >>> _, masked = jlstm.lstm(params, xs, mask=mask, key=jax.random.key(1), zoneout_c=0.1)
      >>> bool(jnp.all(masked[:, 0] == 0) and jnp.all(masked[:, 3] == masked[:, 2]))
      True
    """
    call = layer_call.prepare(
        params,
        xs,
        state,
        lengths=lengths,
        mask=mask,
        resets=resets,
        reverse=reverse,
        time_major=time_major,
        unroll=unroll,
        remat=remat,
        dtype=dtype,
        input_dropout=input_dropout,
        recurrent_dropout=recurrent_dropout,
        zoneout_h=zoneout_h,
        zoneout_c=zoneout_c,
        key=key,
        deterministic=deterministic,
        return_gates=return_gates,
        checks=checks,
    )
    return layer_call.finish(call, *layer_call.run(call))


# `jlstm.lstm`'s keyword options and their defaults.
OPTIONS = {
    name: parameter.default
    for name, parameter in inspect.signature(lstm).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
}


def prepare(
    fn: str, params: LSTMParams, xs: Any, state: LSTMState | None, **options: Any
) -> layer_call.Call:
    """`jlstm.lstm`'s checks and layout for a layer `fn` that runs calls together."""
    layer_checks.known_options(fn, options, OPTIONS)
    return layer_call.prepare(params, xs, state, **(OPTIONS | options))
