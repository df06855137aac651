r"""Noise inside the recurrence: variational dropout and zoneout.

- Variational dropout (Gal & Ghahramani 2016, "A Theoretically Grounded Application of
  Dropout in Recurrent Neural Networks"; Keras' `dropout` / `recurrent_dropout`): one mask
  per sequence, drawn once and reused at every step, on the input `x` and on the recurrent
  `h` that enters :math:`W_{hh} h`. Kept units are scaled by :math:`1 / (1 - p)`, so the
  expected value is unchanged and evaluation (no key) is the identity.
- Zoneout (Krueger et al. 2017, "Zoneout: Regularizing RNNs by Randomly Preserving Hidden
  Activations"): at each step each unit of `h` and of `c` keeps its previous value with
  probability `p`, :math:`c_t = d^c_t \odot c_{t-1} + (1 - d^c_t) \odot \tilde c_t` (same
  for `h`; :math:`\tilde h_t` is computed from the un-zoned :math:`\tilde c_t`). Without a
  key it runs its expectation, :math:`c_t = p\, c_{t-1} + (1 - p)\, \tilde c_t`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlstm._blocks import divisor_near
from jlstm._types import LSTMState


class Rates(NamedTuple):
    """The four noise rates of one `jlstm.lstm` call, each a Python float in [0, 1)."""

    input: float  # variational dropout of x
    recurrent: float  # variational dropout of the h that enters W_hh h
    zoneout_h: float
    zoneout_c: float

    def active(self, key: Any) -> bool:
        """Whether any noise changes the computation (dropout needs a key, zoneout not)."""
        dropout = key is not None and (self.input > 0 or self.recurrent > 0)
        return dropout or self.zoneout_h > 0 or self.zoneout_c > 0


class Noise(NamedTuple):
    """What `draw` drew: masks (or None) and the zoneout rates for evaluation."""

    input_mask: jax.Array | None  # (*batch, input_size): 0 or 1/(1-p), reused at every step
    recurrent_mask: jax.Array | None  # (*batch, out_size): 0 or 1/(1-p), reused at every step
    zoneout_h: jax.Array | None  # (time, *batch, out_size) bool: True keeps the previous h
    zoneout_c: jax.Array | None  # (time, *batch, hidden_size) bool: True keeps the previous c


def inverted(key: jax.Array, x: jax.Array, rate: float) -> jax.Array:
    """Inverted dropout: each unit of `x` is 0 with probability `rate`, else `x / (1 - rate)`.

    Scaling the kept units keeps the expectation of `x`, so evaluation needs no rescaling.
    """
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def variational_mask(key: jax.Array, rate: float, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    """An inverted-dropout mask: 0 with probability `rate`, else `1 / (1 - rate)`."""
    return inverted(key, jnp.ones(shape, dtype), rate)


# Per-step masks are drawn this many random words at a time (one word per unit and step).
BLOCK_WORDS = 1 << 16


def per_step_mask(key: jax.Array, rate: float, shape: tuple[int, ...]) -> jax.Array:
    """A `(time, ...)` bool mask, True with probability `rate`, drawn a block of steps at a time.

    Drawn whole, the random words of every step (and the generator's working copies of
    them, four times the mask in 32-bit words) would be live at once; in blocks of
    `BLOCK_WORDS` words, one block's are.

    Example:
      >>> import jax
      >>> mask = per_step_mask(jax.random.key(0), 0.25, (1000, 16, 64))
      >>> mask.shape, round(float(mask.mean()), 2)
      ((1000, 16, 64), 0.25)
    """
    time, row = shape[0], math.prod(shape[1:])
    if not isinstance(time, int) or not isinstance(row, int):  # symbolic dims: one block
        return jax.random.bernoulli(key, rate, shape)
    steps = max(1, BLOCK_WORDS // max(1, row))
    if steps >= time:
        return jax.random.bernoulli(key, rate, shape)
    steps = divisor_near(time, steps) or steps  # blocks that fill the steps need no copy
    count = -(-time // steps)
    blocks = jax.lax.map(
        lambda block_key: jax.random.bernoulli(block_key, rate, (steps, *shape[1:])),
        jax.random.split(key, count),
    )
    return blocks.reshape((count * steps, *shape[1:]))[:time]


def draw(
    key: jax.Array | None,
    rates: Rates,
    time: int,
    batch_shape: tuple[int, ...],
    sizes: tuple[int, int, int],
    dtype: Any,
) -> Noise:
    """Draw every mask of one call; without a key nothing is drawn (evaluation mode).

    `sizes` is `(input_size, hidden_size, out_size)`; `dtype` that of the scaled masks.
    """
    if key is None or not any(rates):
        return Noise(None, None, None, None)
    input_size, hidden_size, out_size = sizes
    key_x, key_h, key_zh, key_zc = jax.random.split(key, 4)

    def per_sequence(key: jax.Array, rate: float, size: int) -> jax.Array | None:
        return variational_mask(key, rate, (*batch_shape, size), dtype) if rate else None

    def per_step(key: jax.Array, rate: float, size: int) -> jax.Array | None:
        return per_step_mask(key, rate, (time, *batch_shape, size)) if rate else None

    return Noise(
        input_mask=per_sequence(key_x, rates.input, input_size),
        recurrent_mask=per_sequence(key_h, rates.recurrent, out_size),
        zoneout_h=per_step(key_zh, rates.zoneout_h, out_size),
        zoneout_c=per_step(key_zc, rates.zoneout_c, hidden_size),
    )


def zone(old: jax.Array, new: jax.Array, rate: float, keep_old: jax.Array | None) -> jax.Array:
    """Zoneout of one array: `keep_old` picks the previous value; without it, the expectation."""
    if not rate:
        return new
    if keep_old is None:
        return rate * old + (1.0 - rate) * new
    return jnp.where(keep_old, old, new)


def zoneout(
    old: LSTMState,
    new: LSTMState,
    rates: Rates,
    keep_h: jax.Array | None,
    keep_c: jax.Array | None,
) -> LSTMState:
    """Zoneout of a step's new state towards the state it started from."""
    return LSTMState(
        h=zone(old.h, new.h, rates.zoneout_h, keep_h),
        c=zone(old.c, new.c, rates.zoneout_c, keep_c),
    )
