r"""The LSTM cell with its research variants, and the gate activations it exposes.

Each variant is opt-in through optional parts of `LSTMParams` (see `jlstm.init_lstm`):

- peephole connections (Gers & Schmidhuber 2000, "Recurrent nets that time and count"):
  `weight_peephole` rows `p_i, p_f, p_o` let the gates see the cell,
  :math:`i = \sigma(z_i + p_i \odot c)`, :math:`f = \sigma(z_f + p_f \odot c)`,
  :math:`o = \sigma(z_o + p_o \odot c')`;
- layer normalisation (Ba et al. 2016, "Layer Normalization"), `layer_norm`: the two gate
  terms are normalised separately, :math:`z = LN(W_{ih} x) + LN(W_{hh} h) + b`, and so is
  the cell before the output, :math:`h' = \sigma(o) \odot \tanh(LN(c'))`;
- the coupled input-forget gate (CIFG; Greff et al. 2017, "LSTM: A Search Space Odyssey"),
  :math:`i = 1 - f`, read from the shapes: 3 gate blocks `[f; g; o]` instead of 4.

Without any variant, `step` computes the same operations as `jlstm._cell.step`, in the same
order, so its values are bit for bit those of the plain cell.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlstm._public import public
from jlstm._types import LayerNorm, LSTMParams, LSTMState, gate_blocks
from jlstm._weights import CellWeights, bias_row, matmul, prepare

__all__ = ["GateTrace"]

LAYER_NORM_EPSILON = 1e-5  # added to the variance, as in torch.nn.LayerNorm


@public("jlstm")
class GateTrace(NamedTuple):
    """The outputs of an LSTM together with its cell states and gate activations.

    Returned instead of the outputs with `return_gates=True`. Every field has the layout of
    the outputs: `(*batch, time, size)` from `jlstm.lstm` (`(time, *batch, size)` with
    `time_major=True`) and `(*batch, size)` from `jlstm.lstm_cell`. Gates are activations,
    after their sigmoid (tanh for `g`). At padded steps (`lengths`) every field is 0; at
    masked steps (`mask`) the gates are 0 and `h`, `c` are the state carried through.

    Example:
      >>> import jax, jax.numpy as jnp, jlstm
      >>> params = jlstm.init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
      >>> state, trace = jlstm.lstm(params, jnp.ones((4, 5, 3)), return_gates=True)
      >>> trace.f.shape, bool(jnp.all(trace.h[:, -1] == state.h))
      ((4, 5, 2), True)
    """

    h: jax.Array  # (..., out_size): the outputs, equal to `ys`
    c: jax.Array  # (..., hidden_size): cell state after the step
    i: jax.Array  # (..., hidden_size): input gate sigma(i); 1 - f for CIFG
    f: jax.Array  # (..., hidden_size): forget gate sigma(f)
    g: jax.Array  # (..., hidden_size): cell candidate tanh(g)
    o: jax.Array  # (..., hidden_size): output gate sigma(o)


class VariantWeights(NamedTuple):
    """Prepared weights of a cell with its optional variant parts."""

    cell: CellWeights
    peephole: jax.Array | None  # (3, hidden_size) rows p_i, p_f, p_o; (2, hidden_size) for CIFG
    layer_norm: LayerNorm | None


def has_variants(params: LSTMParams) -> bool:
    """Whether `params` uses any variant: peepholes, layer normalisation or CIFG."""
    return (
        params.weight_peephole is not None
        or params.layer_norm is not None
        or gate_blocks(params) == 3
    )


def prepare_variants(params: LSTMParams, dtype: Any = None) -> VariantWeights:
    """`prepare` plus the variant parts, which stay in the params' dtype like the bias."""
    return VariantWeights(prepare(params, dtype), params.weight_peephole, params.layer_norm)


def layer_norm(a: jax.Array, scale: jax.Array, offset: jax.Array | None = None) -> jax.Array:
    r"""Ba et al. (2016): :math:`\alpha \odot (a - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta`.

    Mean and variance are over the last axis of `a` (`(*batch, features)`).
    """
    centred = a - jnp.mean(a, axis=-1, keepdims=True)
    variance = jnp.mean(jnp.square(centred), axis=-1, keepdims=True)
    normed = centred * jax.lax.rsqrt(variance + LAYER_NORM_EPSILON) * bias_row(scale, a)
    return normed if offset is None else normed + bias_row(offset, a)


def step(weights: VariantWeights, state: LSTMState, x: jax.Array) -> tuple[LSTMState, GateTrace]:
    """One step of the cell with its variants; returns the new state and its `GateTrace`."""
    cell, norm, peephole = weights.cell, weights.layer_norm, weights.peephole
    dtype = state.c.dtype
    z_x = matmul(x, cell.weight_ih_t, dtype)
    z_h = matmul(state.h, cell.weight_hh_t, dtype)
    if norm is not None:
        z_x, z_h = layer_norm(z_x, norm.scale_ih), layer_norm(z_h, norm.scale_hh)
    z = z_x + z_h
    if cell.bias is not None:
        z = z + bias_row(cell.bias, z)
    coupled = z.shape[-1] == 3 * state.c.shape[-1]
    i, f, g, o = (None, *jnp.split(z, 3, axis=-1)) if coupled else jnp.split(z, 4, axis=-1)
    if peephole is not None:
        p_i, p_f, p_o = (None, *peephole) if coupled else peephole
        f = f + bias_row(p_f, f) * state.c
        i = None if coupled else i + bias_row(p_i, i) * state.c
    f = jax.nn.sigmoid(f)
    i = 1 - f if coupled else jax.nn.sigmoid(i)
    g = jnp.tanh(g)
    c = f * state.c + i * g
    if peephole is not None:
        o = o + bias_row(p_o, o) * c  # the output gate sees the new cell
    o = jax.nn.sigmoid(o)
    h = o * jnp.tanh(c if norm is None else layer_norm(c, norm.scale_c, norm.offset_c))
    if cell.weight_hr_t is not None:
        h = matmul(h, cell.weight_hr_t, dtype)
    return LSTMState(h, c), GateTrace(h=h, c=c, i=i, f=f, g=g, o=o)
