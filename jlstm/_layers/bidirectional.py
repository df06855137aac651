"""A bidirectional layer: one LSTM run forwards, one backwards, outputs merged per step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jlstm import _validation as checks
from jlstm._engine import call as layer_call
from jlstm._layers.lstm import prepare
from jlstm._public import public
from jlstm._types import Bidirectional
from jlstm._validation import layers as layer_checks

__all__ = ["bidirectional"]

# `jlstm.lstm` options that a bidirectional layer cannot pass on, and why.
UNSUPPORTED = {
    "reverse": "The backward direction already runs reversed.",
    "return_gates": "Trace the gates of each direction with jlstm.lstm(..., return_gates=True).",
}

# Keras' merge modes ("ave" is called "mean" here), applied to the aligned outputs.
MERGES: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    "concat": lambda forward, backward: jnp.concatenate([forward, backward], axis=-1),
    "sum": lambda forward, backward: forward + backward,
    "mean": lambda forward, backward: (forward + backward) / 2,
    "mul": lambda forward, backward: forward * backward,
}


@public("jlstm")
def bidirectional(
    params: Bidirectional,
    xs: jax.Array,
    state: Bidirectional | None = None,
    *,
    lengths: jax.Array | None = None,
    merge_mode: str | None = "concat",
    time_major: bool = False,
    key: jax.Array | None = None,
    **layer_options: Any,
) -> tuple[Bidirectional, jax.Array | Bidirectional]:
    r"""Run a bidirectional LSTM layer (Schuster & Paliwal 1997) over a sequence.

    `params.forward` reads the sequence from the first step to the last and
    `params.backward` from the last to the first; their outputs are aligned by time step,
    so `ys[t]` merges the forward summary of `x[:t+1]` with the backward summary of `x[t:]`:

    .. math::

        \overrightarrow{h}_t = \mathrm{LSTM}(\overrightarrow{h}_{t-1}, x_t), \quad
        \overleftarrow{h}_t = \mathrm{LSTM}(\overleftarrow{h}_{t+1}, x_t), \quad
        y_t = \mathrm{merge}(\overrightarrow{h}_t, \overleftarrow{h}_t)

    With `lengths`, the backward direction starts at each sequence's last valid step (the
    padding is skipped, never read), and outputs at padded steps are exactly 0 in both
    directions, as with `torch.nn.utils.rnn.pack_padded_sequence` or a Keras mask.

    Both directions advance in the same loop, in the forward and in the backward pass.
    Each direction's outputs are bit for bit what `jlstm.lstm` computes (with
    `reverse=True` for the backward one); its gradients equal those of `jlstm.lstm` to
    float rounding, the weight gradients summed over the steps in another order.

    Args:
      params: a `Bidirectional(forward, backward)` of `LSTMParams` with one `input_size`.
      xs: inputs of shape `(*batch, time, input_size)`, or `(time, *batch, input_size)`
        with `time_major=True`.
      state: initial `Bidirectional(forward, backward)` of `LSTMState` (either may be None);
        zeros when None.
      lengths: `(*batch,)` integers marking right-padded sequences (see `jlstm.lstm`).
      merge_mode: how the two outputs of a step are combined: `"concat"` (forward first,
        along features), `"sum"`, `"mean"`, `"mul"`, or None to return both unmerged.
      time_major: whether time is the leading axis of `xs` and of the outputs.
      key: PRNG key of the layer options that draw noise (e.g. `input_dropout`), split
        so that the two directions draw independent masks; None for a deterministic run.
      **layer_options: `jlstm.lstm` options of both directions (e.g. `unroll`, `remat`,
        `dtype`, `input_dropout`); not `reverse` or `return_gates`. Any other name raises.

    Returns:
      `(final_state, ys)`: `final_state` is a `Bidirectional` of `LSTMState`; the backward
      one is the state after step 0. `ys` has shape `(*batch, time, features)` (or
      time-major), with `features` the sum of both output sizes for `"concat"` and the
      common output size otherwise; with `merge_mode=None`, `ys` is
      `Bidirectional(ys_forward, ys_backward)`.

    Example:
      >>> import jax, jax.numpy as jnp, jlstm
      >>> key_forward, key_backward = jax.random.split(jax.random.key(0))
      >>> params = jlstm.Bidirectional(
      ...     jlstm.init_lstm(key_forward, 4, 3), jlstm.init_lstm(key_backward, 4, 3)
      ... )
      >>> xs = jnp.ones((2, 5, 4))  # (batch, time, input_size)
      >>> state, ys = jlstm.bidirectional(params, xs, lengths=jnp.array([5, 2]))
      >>> ys.shape, state.backward.h.shape, float(jnp.abs(ys[1, 2:]).max())
      ((2, 5, 6), (2, 3), 0.0)
    """
    _, out_sizes = layer_checks.bidirectional_params("bidirectional", "params", params)
    layer_checks.merge_mode("bidirectional", merge_mode)
    if merge_mode is not None:
        layer_checks.merged_size("bidirectional", "params", out_sizes, merge_mode)
    layer_checks.unsupported_options("bidirectional", layer_options, UNSUPPORTED)
    layer_checks.layer_state("bidirectional", "state", state, "params", bidirectional=True)
    forward_state, backward_state = (None, None) if state is None else state
    options = dict(layer_options, lengths=lengths, time_major=time_major)
    forward_options, backward_options = options, dict(options, reverse=True)
    if key is not None:
        checks.prng_key("bidirectional", key)
        forward_key, backward_key = jax.random.split(key)
        forward_options = dict(forward_options, key=forward_key)
        backward_options = dict(backward_options, key=backward_key)
    with layer_checks.context("(in the forward direction: `params.forward`, `state.forward`)"):
        forward = prepare("bidirectional", params.forward, xs, forward_state, **forward_options)
    with layer_checks.context("(in the backward direction: `params.backward`, `state.backward`)"):
        backward = prepare("bidirectional", params.backward, xs, backward_state, **backward_options)
    calls = (forward, backward)  # both directions advance in one loop
    ran = layer_call.run_together(calls)
    (forward_state, forward_ys), (backward_state, backward_ys) = (
        layer_call.finish(call, *out) for call, out in zip(calls, ran, strict=True)
    )
    final_state = Bidirectional(forward_state, backward_state)
    if merge_mode is None:
        return final_state, Bidirectional(forward_ys, backward_ys)
    return final_state, MERGES[merge_mode](forward_ys, backward_ys)
