"""LSTM parameters and state as NamedTuples of arrays."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from jlstm._public import public

__all__ = ["Bidirectional", "LSTMParams", "LSTMState", "LayerNorm"]


@public("jlstm")
class LayerNorm(NamedTuple):
    r"""Gains and offset of a layer-normalised LSTM (Ba et al. 2016, "Layer Normalization").

    .. math::

        z &= \mathrm{LN}(W_{ih} x; \alpha_{ih}) + \mathrm{LN}(W_{hh} h; \alpha_{hh}) + b \\
        h' &= \sigma(o) \odot \tanh(\mathrm{LN}(c'; \alpha_c, \beta_c)), \quad
        \mathrm{LN}(a; \alpha, \beta) = \alpha \odot (a - \mu_a) / \sqrt{\sigma_a^2 + 10^{-5}}
        + \beta

    with mean and variance taken over all gate pre-activations of one step (all of `c'`).
    The paper's offsets of the two gate terms add up with `bias`, so `bias` holds their sum.

    Example:
      >>> import jax, jlstm
      >>> params = jlstm.init_lstm(jax.random.key(0), 3, 2, layer_norm=True)
      >>> params.layer_norm.scale_ih.shape, params.layer_norm.offset_c
      ((8,), Array([0., 0.], dtype=float32))
    """

    scale_ih: jax.Array  # (4*hidden_size,): gain alpha of LN(W_ih x)
    scale_hh: jax.Array  # (4*hidden_size,): gain alpha of LN(W_hh h)
    scale_c: jax.Array  # (hidden_size,): gain of LN(c') before the output tanh
    offset_c: jax.Array  # (hidden_size,): offset beta of LN(c')


@public("jlstm")
class LSTMParams(NamedTuple):
    """Weights of one LSTM layer; gate blocks are stacked in the order i, f, g, o.

    Sizes are read from shapes, so the tuple holds arrays (or None) only.
    """

    weight_ih: jax.Array  # (4*hidden_size, input_size): rows [W_i; W_f; W_g; W_o] acting on x
    weight_hh: jax.Array  # (4*hidden_size, out_size): acting on h; out_size = proj_size or hidden
    bias: jax.Array | None  # (4*hidden_size,), or None for a layer without bias
    weight_hr: jax.Array | None = None  # (proj_size, hidden_size) for LSTMP, else None
    # Variants (see init_lstm); a CIFG layer has 3 gate blocks [f; g; o] instead of 4.
    weight_peephole: jax.Array | None = None  # (3, hidden_size): p_i, p_f, p_o; CIFG p_f, p_o
    layer_norm: LayerNorm | None = None  # gains/offset of the layer-normalised LSTM


def gate_blocks(params: LSTMParams) -> int:
    """The number of gate blocks: 4 `[i; f; g; o]`, or 3 `[f; g; o]` for a CIFG layer.

    Read from shapes: `hidden_size` is the width of `weight_hr` (with a projection) or of
    `weight_hh`, and a CIFG layer's `weight_ih` has `3*hidden_size` rows.
    """
    width = params.weight_hh if params.weight_hr is None else params.weight_hr
    # getattr: this also runs on unchecked params, inside the checks themselves.
    rows = params.weight_ih.shape[0] if getattr(params.weight_ih, "ndim", 0) == 2 else 0
    hidden_size = width.shape[-1] if getattr(width, "ndim", 0) == 2 else 0
    return 3 if hidden_size and rows == 3 * hidden_size else 4


@public("jlstm")
class LSTMState(NamedTuple):
    """Recurrent state of one LSTM layer: hidden output first, then cell."""

    h: jax.Array  # (*batch, out_size): hidden state (the projection with proj_size)
    c: jax.Array  # (*batch, hidden_size): cell state


@public("jlstm")
class Bidirectional(NamedTuple):
    """A bidirectional layer: two independent layers, one run forwards and one backwards.

    The fields hold `LSTMParams` for the params of the layer, or `LSTMState` for its state.
    A stack of layers is a tuple whose items are `LSTMParams` or `Bidirectional`.
    """

    forward: Any  # LSTMParams (or LSTMState) of the forward direction
    backward: Any  # LSTMParams (or LSTMState) of the backward direction


def merged_size(out_sizes: tuple[int, ...], merge_mode: str | None) -> int:
    """The features a layer hands to the next: its output size, or both directions' merged.

    `merge_mode="concat"` puts the directions side by side; "sum", "mean" and "mul" need
    them of one size and keep it.
    """
    return sum(out_sizes) if len(out_sizes) == 1 or merge_mode == "concat" else out_sizes[0]
