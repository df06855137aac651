"""A loop over the time axis cut into chunks: an outer `lax.scan` over chunks of equal size.

`in_chunks(run, carry, per_step, size)` equals `run(carry, per_step)` for a `run` that
steps through its `per_step` rows in order, but calls it on `size` rows at a time: once
per chunk inside an outer `lax.scan`, then once on the remaining rows. What `run` does
per chunk, and what its derivative keeps, then stays `size` rows long. `remat=True` runs
the kernel this way (chunks of `sqrt(time)` steps, each checkpointed), and the kernel runs
its tangent loop this way (chunks of `tangent_chunk` steps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jlstm._blocks import divisor_near

# The LSTM kernel's tangent loop runs whole up to this many bytes of float32 gate tangents
# (of all its lanes together), and is cut into chunks of about this many rows (steps x
# batch) beyond it.
UNCUT_BYTES = 8 << 20
CHUNK_ROWS = 512


def tangent_chunk(time: Any, batch: Any, gates: int) -> Any:
    """Steps per chunk of the kernel's tangent loop over `time` steps (`time`: not cut).

    `gates` is the gate width of all the loop's lanes together (8 * hidden_size for the two
    directions of a layer).

    A short loop runs whole: its hoisted products are then largest, and fastest. A long one
    is cut so that the derivative keeps one chunk of gate tangents instead of all of them.
    The chunk size divides `time` (cutting off a remainder would copy every saved factor);
    a loop whose best divisor is below a quarter of `CHUNK_ROWS / batch` is not cut.

    Example:
      >>> tangent_chunk(1000, 16, 256), tangent_chunk(100, 32, 512), tangent_chunk(100, 32, 1024)
      (25, 100, 10)
      >>> tangent_chunk(997, 16, 256)  # no divisor of 997 near 32: not cut
      997
    """
    if not isinstance(time, int) or not isinstance(batch, int):
        return time  # symbolic dims (`jax.export`)
    if time * batch * gates * 4 <= UNCUT_BYTES:
        return time
    return divisor_near(time, max(1, CHUNK_ROWS // max(1, batch))) or time


Run = Callable[[Any, Any, Any], tuple[Any, Any]]  # (carry, rows, row before) -> (carry, rows)


def in_chunks(
    run: Run,
    carry: Any,
    per_step: Any,
    size: int,
    before: tuple[Any, Any] | None = None,
    reverse: bool = False,
) -> tuple[Any, Any]:
    """`run(carry, per_step, first)`, run on `size` rows of every leaf at a time.

    With `reverse`, the chunks run from the last rows to the first (and `run` must step
    through its rows backwards). With `before = (rows, first)`, each call also gets the
    row of `rows` (a tree like `per_step`) that the run reads just before its chunk (the
    one after it when `reverse`), and `first` before the first chunk; without it, None.
    A symbolic number of rows (`jax.export`) cannot be cut: it is one call of `run`.

    Example:
      >>> import jax.numpy as jnp
      >>> def running_sum(total, xs, _):
      ...     return total + xs.sum(), total + jnp.cumsum(xs)
      >>> in_chunks(running_sum, 0.0, jnp.arange(5.0), size=2)[1].tolist()
      [0.0, 1.0, 3.0, 6.0, 10.0]
      >>> def previous(carry, xs, before):
      ...     return carry, jnp.concatenate([before[None], xs[:-1]])
      >>> xs = jnp.arange(1.0, 6.0)
      >>> in_chunks(previous, None, xs, size=2, before=(xs, jnp.array(0.0)))[1].tolist()
      [0.0, 1.0, 2.0, 3.0, 4.0]
      >>> def following(carry, xs, before):
      ...     return carry, jnp.concatenate([xs[1:], before[None]])
      >>> in_chunks(following, None, xs, 2, (xs, jnp.array(0.0)), reverse=True)[1].tolist()
      [2.0, 3.0, 4.0, 5.0, 0.0]
    """
    rows, first = (None, None) if before is None else before
    time = jax.tree.leaves(per_step)[0].shape[0]
    if not isinstance(time, int) or size >= time:
        return run(carry, per_step, first)
    count = time // size
    head = count * size
    start = time - head if reverse else 0  # the rows before `start` run last when reverse

    def cut(a: jax.Array) -> jax.Array:
        return a[start : start + head].reshape((count, size, *a.shape[1:]))

    def chunk(carry: Any, chunk_and_before: tuple) -> tuple[Any, Any]:
        return run(carry, *chunk_and_before)

    def firsts(a: jax.Array, f: jax.Array) -> jax.Array:
        if reverse:
            return jnp.concatenate([a[start + size :: size], f[None]])
        return jnp.concatenate([f[None], a[size - 1 : head - 1 : size]])

    per_chunk = (jax.tree.map(cut, per_step), jax.tree.map(firsts, rows, first))
    carry, out = jax.lax.scan(chunk, carry, per_chunk, reverse=reverse)
    out = jax.tree.map(lambda a: a.reshape((head, *a.shape[2:])), out)
    if head == time:
        return carry, out
    rest = slice(0, start) if reverse else slice(head, time)
    last = jax.tree.map(lambda a: a[start if reverse else head - 1], rows)
    carry, tail = run(carry, jax.tree.map(lambda a: a[rest], per_step), last)
    pieces = (tail, out) if reverse else (out, tail)
    return carry, jax.tree.map(lambda a, b: jnp.concatenate([a, b]), *pieces)
