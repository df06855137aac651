"""The LSTM kernel checkpointed every `k` steps, for long sequences (`remat=True`).

The sequence is cut into chunks of `k = ceil(sqrt(time))` steps, run one after the other
by an outer `lax.scan`; each chunk is one kernel call under `jax.checkpoint`. The
backward pass keeps only the state at each chunk boundary and recomputes one chunk's
forward pass at a time, so the memory for the derivative is `O(sqrt(time))` steps
instead of `O(time)`, for one more forward pass. Inside a chunk the derivative is the
kernel's own: the weight and input gradients are one large product per chunk.
"""

from __future__ import annotations

import functools
import math

import jax

from jlstm._engine.chunks import in_chunks
from jlstm._engine.kernel import Config, Lane, lstm_kernel


def chunk_size(time: int) -> int:
    """Steps per checkpointed chunk: the square root, which balances the two memories."""
    return max(1, math.ceil(math.sqrt(time)))


def _started(lanes: tuple[Lane, ...], carry: tuple, per_step: tuple) -> tuple[Lane, ...]:
    # The lanes run from the states in `carry` over the per-step inputs in `per_step`.
    return tuple(
        lane._replace(h0=h, c0=c, inputs=lane.inputs._replace(**fields))
        for lane, (h, c), fields in zip(lanes, carry, per_step, strict=True)
    )


def checkpointed_kernel(config: Config, lanes: tuple[Lane, ...]) -> tuple[tuple, ...]:
    """`lstm_kernel`'s result, with a derivative that stores one state per chunk."""
    run = jax.checkpoint(functools.partial(lstm_kernel, config), prevent_cse=False)

    def chunk(carry: tuple, per_step: tuple, _: None) -> tuple[tuple, tuple]:
        out = run(_started(lanes, carry, per_step))
        return tuple((h, c) for h, c, _ in out), tuple(ys for _, _, ys in out)

    carry = tuple((lane.h0, lane.c0) for lane in lanes)
    per_step = tuple(lane.inputs.per_step() for lane in lanes)
    size = chunk_size(lanes[0].inputs.xs.shape[0])
    carry, ys = in_chunks(chunk, carry, per_step, size, reverse=config.reverse)
    return tuple((h, c, y) for (h, c), y in zip(carry, ys, strict=True))
