"""Several processes (`jax.distributed`): agreeing on what each one passes, reading results.

With `jax.distributed.initialize()`, every process runs the same program on its own devices
and XLA's collectives join them. A process that calls a program the others do not call waits
forever, so the checks here run on every process at the same point and raise the same error
on all of them; they cost nothing in a single process.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sized
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

from jlstm._validation import training as checks

__all__ = ["agree", "fingerprint", "same_batches", "spans_processes", "to_host"]

_END = object()  # marks an exhausted iterator


def spans_processes(tree: Any) -> bool:
    """Whether some array of `tree` lives (partly) on the devices of other processes."""
    return any(
        isinstance(leaf, jax.Array) and not leaf.is_fully_addressable
        for leaf in jax.tree.leaves(tree)
    )


def agree(fn: str, arg: str, value: int, expected: str, actual: Any, hint: str) -> None:
    """Raise on every process unless all processes pass the same `value`.

    Args:
      fn: the public function, e.g. "train.fit".
      arg: its argument that must agree across processes.
      value: what this process has, as an int (e.g. its number of batches).
      expected: what `arg` must be, for the message.
      actual: this process's value, in words, for the message.
      hint: what to do about it.
    """
    if jax.process_count() == 1:
        return
    values = np.asarray(multihost_utils.process_allgather(np.int64(value)))
    checks.agreed(fn, arg, values, expected, actual, hint)


def fingerprint(text: str) -> int:
    """A stable 63-bit integer digest of `text`, to compare descriptions across processes."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def to_host(tree: Any) -> Any:
    """`jax.device_get`, also for arrays split over several processes (gathered on each).

    Every process must call it with the same tree when some array spans processes.
    """

    def get(leaf: Any) -> Any:
        if isinstance(leaf, jax.Array) and not (
            leaf.is_fully_addressable or leaf.sharding.is_fully_replicated
        ):
            return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
        return np.asarray(jax.device_get(leaf))

    return jax.tree.map(get, tree)


def same_batches(fn: str, batches: Iterable[Any], limit: int | None, active: bool) -> Iterator[Any]:
    """Iterate over `batches` (at most `limit`), the same number and shapes on every process.

    When `active`, a differing count or first batch shape raises on every process instead of
    leaving some of them waiting for the others: a sized `batches` is compared once up front,
    any other iterable before each batch (one small gather per batch).
    """
    iterator = itertools.islice(batches, limit)
    if not active:
        yield from iterator
        return
    hint = "Give every process the same number of batches, e.g. with num_steps=..."
    expected = "the same number of batches on every process"
    if isinstance(batches, Sized):
        count = len(batches) if limit is None else min(len(batches), limit)
        agree(fn, "batches", count, expected, f"{count} batches", hint)
    calls = 0
    while True:
        batch = next(iterator, _END)
        if not isinstance(batches, Sized):
            actual = f"{calls} batches" if batch is _END else f"more than {calls} batches"
            agree(fn, "batches", batch is not _END, expected, actual, hint)
        if batch is _END:
            return
        if calls == 0:
            shapes = str([np.shape(leaf) for leaf in jax.tree.leaves(batch)])
            layout = f"{jax.tree.structure(batch)} {shapes}"
            agree(
                fn,
                "batches",
                fingerprint(layout),
                "batches of the same structure and shapes on every process",
                f"shapes {shapes}",
                "Each process passes an equal part of the global batch.",
            )
        calls += 1
        yield batch
