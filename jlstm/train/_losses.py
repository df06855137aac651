"""Losses over right-padded sequences: padding never reaches a loss or its gradient.

Padded entries are replaced by zeros before any arithmetic (not multiplied by a zero
mask afterwards), so NaN or infinite padding changes neither the loss nor a gradient.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jlstm._public import public
from jlstm._validation import lengths as checked_lengths
from jlstm._validation import training as checks

__all__ = [
    "last_valid",
    "last_valid_cross_entropy",
    "last_valid_mse",
    "masked_mean",
    "sequence_cross_entropy",
    "sequence_mask",
]


def _lengths(fn: str, lengths: Any, batch_shape: tuple[int, ...], time: int) -> jax.Array:
    if lengths is None:
        return jnp.full(batch_shape, time, jnp.int32)
    return checked_lengths(fn, lengths, batch_shape, time)


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    total = jnp.sum(jnp.where(mask, values, jnp.zeros_like(values)))
    return total / jnp.maximum(jnp.sum(mask), 1).astype(values.dtype)


def _cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    # Softmax in at least float32: bfloat16 logits lose the small probabilities.
    log_probs = jax.nn.log_softmax(logits.astype(jnp.promote_types(logits.dtype, jnp.float32)))
    return -jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]


@public("jlstm.train")
def sequence_mask(lengths: jax.Array, time: int) -> jax.Array:
    """`(*batch, time)` booleans, True at the valid steps `t < lengths`.

    Example:
      >>> import jax.numpy as jnp
      >>> from jlstm import train
      >>> train.sequence_mask(jnp.array([2, 0]), 3)
      Array([[ True,  True, False],
             [False, False, False]], dtype=bool)
    """
    time = checks.count("train.sequence_mask", "time", time)
    lengths = checks.mask_lengths("train.sequence_mask", lengths)
    steps = jnp.arange(time, dtype=lengths.dtype).reshape((1,) * lengths.ndim + (time,))
    return steps < lengths[..., None]


@public("jlstm.train")
def masked_mean(values: jax.Array, lengths: jax.Array | None = None) -> jax.Array:
    """Mean of `values` over the valid steps of all sequences (0 when none is valid).

    Every valid step weighs the same, so long sequences count more than short ones.

    Args:
      values: `(*batch, time)` per-step losses.
      lengths: `(*batch,)` ints; None when every step is valid.

    Returns:
      A `()` scalar; padded entries influence neither it nor its gradient.

    Example:
      >>> import jax.numpy as jnp
      >>> from jlstm import train
      >>> values = jnp.array([[1.0, 3.0, jnp.nan], [5.0, jnp.inf, jnp.inf]])
      >>> train.masked_mean(values, lengths=jnp.array([2, 1]))
      Array(3., dtype=float32)
    """
    fn = "train.masked_mean"
    checks.sequences(fn, "values", values, "(*batch, time)")
    time = values.shape[-1]
    return _masked_mean(values, sequence_mask(_lengths(fn, lengths, values.shape[:-1], time), time))


@public("jlstm.train")
def sequence_cross_entropy(
    logits: jax.Array, labels: jax.Array, lengths: jax.Array | None = None
) -> jax.Array:
    r"""Mean softmax cross-entropy over the valid steps of padded sequences.

    .. math::  \frac{1}{\sum_b L_b} \sum_b \sum_{t < L_b} -\log \mathrm{softmax}(z_{b,t})_{y_{b,t}}

    Args:
      logits: `(*batch, time, classes)` unnormalised log-probabilities.
      labels: `(*batch, time)` integer classes; values at padded steps are ignored, so any
        placeholder (e.g. -1) may be used there.
      lengths: `(*batch,)` ints; None when every step is valid.

    Returns:
      A `()` scalar in at least float32 (0 when no step is valid).

    Example:
      >>> import jax.numpy as jnp
      >>> from jlstm import train
      >>> logits = jnp.zeros((2, 3, 4))  # uniform over 4 classes: loss log(4)
      >>> labels = jnp.array([[1, 2, -1], [0, -1, -1]])
      >>> train.sequence_cross_entropy(logits, labels, lengths=jnp.array([2, 1]))
      Array(1.3862944, dtype=float32)
    """
    fn = "train.sequence_cross_entropy"
    checks.sequences(fn, "logits", logits, "(*batch, time, classes)")
    checks.labels(fn, labels, logits.shape[:-1], "(the (*batch, time) of logits)")
    time = logits.shape[-2]
    mask = sequence_mask(_lengths(fn, lengths, logits.shape[:-2], time), time)
    logits = jnp.where(mask[..., None], logits, jnp.zeros_like(logits))
    labels = jnp.where(mask, labels, jnp.zeros_like(labels))
    return _masked_mean(_cross_entropy(logits, labels), mask)


@public("jlstm.train")
def last_valid(ys: jax.Array, lengths: jax.Array | None = None) -> jax.Array:
    """The output at each sequence's last valid step `lengths - 1` (zeros for length 0).

    With `jlstm.lstm(..., lengths=...)` the final `state.h` is already this value for the
    LSTM's own outputs; `last_valid` picks it from any per-step sequence, e.g. a read-out.

    Args:
      ys: `(*batch, time, features)`.
      lengths: `(*batch,)` ints; None means the last step of every sequence.

    Returns:
      `(*batch, features)`.

    Example:
      >>> import jax.numpy as jnp
      >>> from jlstm import train
      >>> ys = jnp.arange(12.0).reshape(2, 3, 2)
      >>> train.last_valid(ys, lengths=jnp.array([2, 0]))
      Array([[2., 3.],
             [0., 0.]], dtype=float32)
    """
    fn = "train.last_valid"
    checks.sequences(fn, "ys", ys, "(*batch, time, features)")
    time = ys.shape[-2]
    lengths = _lengths(fn, lengths, ys.shape[:-2], time)
    index = jnp.maximum(lengths - 1, 0)[..., None, None]
    picked = jnp.take_along_axis(ys, index, axis=-2)[..., 0, :]
    return jnp.where((lengths > 0)[..., None], picked, jnp.zeros_like(picked))


def _sequence_weights(lengths: jax.Array) -> tuple[jax.Array, jax.Array]:
    # Empty sequences have no last step: they are left out of the mean.
    weights = (lengths > 0).astype(jnp.float32)
    return weights, jnp.maximum(jnp.sum(weights), 1.0)


@public("jlstm.train")
def last_valid_mse(
    predictions: jax.Array, targets: jax.Array, lengths: jax.Array | None = None
) -> jax.Array:
    """Mean squared error of each sequence's last valid prediction (sequence regression).

    Args:
      predictions: `(*batch, time, features)` per-step predictions.
      targets: `(*batch, features)`, one target per sequence.
      lengths: `(*batch,)` ints; None when every step is valid. Sequences of length 0
        are left out of the mean.

    Returns:
      A `()` scalar: the mean over non-empty sequences and features.

    Example:
      >>> import jax.numpy as jnp
      >>> from jlstm import train
      >>> predictions = jnp.array([[[1.0], [2.0], [jnp.nan]]])
      >>> train.last_valid_mse(predictions, jnp.array([[0.0]]), lengths=jnp.array([2]))
      Array(4., dtype=float32)
    """
    fn = "train.last_valid_mse"
    last = last_valid(predictions, lengths)
    checks.targets(fn, targets, last.shape)
    lengths = _lengths(fn, lengths, last.shape[:-1], predictions.shape[-2])
    weights, count = _sequence_weights(lengths)
    errors = jnp.mean(jnp.square(last - targets).astype(jnp.float32), axis=-1)
    return jnp.sum(weights * errors) / count


@public("jlstm.train")
def last_valid_cross_entropy(
    logits: jax.Array, labels: jax.Array, lengths: jax.Array | None = None
) -> jax.Array:
    """Softmax cross-entropy of each sequence's last valid logits (sequence classification).

    Args:
      logits: `(*batch, time, classes)` per-step logits.
      labels: `(*batch,)` integer classes, one per sequence.
      lengths: `(*batch,)` ints; None when every step is valid. Sequences of length 0
        are left out of the mean.

    Returns:
      A `()` float32 scalar: the mean over non-empty sequences.

    Example:
      >>> import jax.numpy as jnp
      >>> from jlstm import train
      >>> logits = jnp.zeros((3, 4, 2))
      >>> train.last_valid_cross_entropy(logits, jnp.array([0, 1, 1]), jnp.array([4, 1, 0]))
      Array(0.6931472, dtype=float32)
    """
    fn = "train.last_valid_cross_entropy"
    last = last_valid(logits, lengths)
    checks.labels(fn, labels, last.shape[:-1], "(the (*batch,) of logits)")
    lengths = _lengths(fn, lengths, last.shape[:-1], logits.shape[-2])
    weights, count = _sequence_weights(lengths)
    labels = jnp.where(lengths > 0, labels, jnp.zeros_like(labels))
    return jnp.sum(weights * _cross_entropy(last, labels)) / count
