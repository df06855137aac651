"""The sequence rules, written once: which steps are read, padding, resets, reversal.

Inputs, flags and outputs are time-major and in time order. A reversed run processes the
steps from the last to the first: the LSTM kernel runs its loops with
`lax.scan(reverse=True)`; `jlstm.scan` and the generic runner flip the time axis into
*processing order* before their loop (`flip`, `in_processing_order`) and back after it.
Padding comes first in a reversed run; its steps are not read, so each sequence is run
from its own last valid step and its state enters that step unchanged.

Per step and sequence the loop applies, in this order:

1. `reset`: the state is replaced by the initial state (and the carried output by the
   initial output);
2. `update`: the step is read (not padding, not masked); otherwise the state and the
   output are carried through unchanged;
3. `valid`: outputs at padded steps are exactly 0.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class StepFlags(NamedTuple):
    """Per-step booleans of shape `(time, *batch)` in time order; None: all True."""

    update: jax.Array | None  # the step is read: valid and not masked
    valid: jax.Array | None  # the step is not padding (only with `lengths`)
    reset: jax.Array | None  # reset the state before the step (None: never)
    masked: bool  # whether a mask is part of `update` (masked steps carry the output)


def flip(tree: Any, reverse: bool) -> Any:
    """Flip the leading (time) axis of every leaf when `reverse`; None leaves stay None."""
    return jax.tree.map(lambda a: jnp.flip(a, 0), tree) if reverse else tree


def in_processing_order(flags: StepFlags, reverse: bool) -> StepFlags:
    """The flags with their time axis flipped when `reverse` (see `flip`)."""
    per_step = {"update": flags.update, "valid": flags.valid, "reset": flags.reset}
    return flags._replace(**flip(per_step, reverse))


def _valid_steps(lengths: jax.Array, time: int) -> jax.Array:
    steps = jnp.arange(time, dtype=jnp.int32).reshape((time,) + (1,) * lengths.ndim)
    return steps < lengths[None]


def _both(a: jax.Array | None, b: jax.Array | None) -> jax.Array | None:
    return b if a is None else a if b is None else a & b


def _segment_starts(resets: jax.Array, valid: jax.Array | None, reverse: bool) -> jax.Array:
    # A flag at a padded step starts nothing. Run backwards, the segment that starts at a
    # flagged step t ends there, so the state is reset after step t, before step t - 1.
    if valid is not None:
        resets = resets & valid
    if reverse:
        resets = jnp.concatenate([resets[1:], jnp.zeros_like(resets[:1])])
    return resets


def step_flags(
    time: int,
    lengths: jax.Array | None,
    mask: jax.Array | None,
    resets: jax.Array | None,
    reverse: bool,
) -> StepFlags:
    """The flags of a run from checked `lengths` `(*batch,)` and time-major `mask`, `resets`.

    `reset` marks the steps before which a run in its direction restores the initial state.

    Example:
      >>> import jax.numpy as jnp
      >>> flags = step_flags(3, jnp.array([2]), None, jnp.array([[0], [1], [0]]) > 0, True)
      >>> flags.update[:, 0].tolist(), flags.reset[:, 0].tolist()  # reset after step 1
      ([True, True, False], [True, False, False])
    """
    valid = None if lengths is None else _valid_steps(lengths, time)
    reset = None if resets is None else _segment_starts(resets, valid, reverse)
    return StepFlags(_both(valid, mask), valid, reset, mask is not None)


def select(condition: jax.Array | None, new: Any, old: Any) -> Any:
    """`new` where `condition` (broadcast over trailing axes), else `old`; all of `new` if None."""
    if condition is None:
        return new

    def pick(a: jax.Array, b: jax.Array) -> jax.Array:
        return jnp.where(
            condition.reshape(condition.shape + (1,) * (a.ndim - condition.ndim)), a, b
        )

    return jax.tree.map(pick, new, old)


def broadcast_flag(flag: jax.Array | None, sizes: tuple[int, ...]) -> tuple | None:
    """A `(time, *batch)` flag broadcast to `(time, *batch, size)` for each of `sizes`."""
    if flag is None:
        return None
    return tuple(jnp.broadcast_to(flag[..., None], (*flag.shape, size)) for size in sizes)


def zero_where_not(condition: jax.Array | None, tree: Any) -> Any:
    """`tree` with every leaf zeroed where `condition` is False; `tree` if it is None."""
    if condition is None:
        return tree
    return select(condition, tree, jax.tree.map(lambda _: 0, tree))


def varying_like(tree: Any, *references: Any) -> Any:
    """`tree` cast to vary over every `shard_map` axis that any reference varies over.

    A `lax.scan` carry must keep its type; inside `shard_map` an initial state that does
    not vary over the sharded axes would become varying after one step. Outside
    `shard_map` this returns `tree` unchanged.
    """
    axes = frozenset().union(*(_varying(leaf) for leaf in jax.tree.leaves(references)))

    def cast(leaf: jax.Array) -> jax.Array:
        missing = tuple(sorted(axes - _varying(leaf)))
        return jax.lax.pcast(leaf, missing, to="varying") if missing else leaf

    return jax.tree.map(cast, tree) if axes else tree


def _varying(leaf: Any) -> frozenset:
    aval = jax.typeof(leaf)
    manual = getattr(aval, "manual_axis_type", None)
    return frozenset(getattr(manual, "varying", None) or getattr(aval, "vma", frozenset()))


def sharded_like(tree: Any, xs: jax.Array) -> Any:
    """`tree` of `(*batch, n)` arrays resharded like the batch axes of time-major `xs`.

    Only on a mesh with `Explicit` axes, where sharding is part of an array's type: a
    replicated initial state would not combine with a batch-sharded sequence.
    """
    sharding = getattr(jax.typeof(xs), "sharding", None)
    mesh = getattr(sharding, "mesh", None)
    explicit = getattr(jax.sharding.AxisType, "Explicit", None)
    if mesh is None or explicit not in tuple(getattr(mesh, "axis_types", ())):
        return tree
    spec = jax.sharding.PartitionSpec(*tuple(sharding.spec)[1:-1], None)
    return jax.tree.map(lambda a: jax.sharding.reshard(a, spec), tree)
