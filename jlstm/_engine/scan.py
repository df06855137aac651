"""`jlstm.scan`: any cell `(params, state, x) -> (state, y)` over a sequence, with padding.

The same rules as `jlstm.lstm` (see `jlstm._steps`) for a researcher's own cell.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jlstm import _validation as check
from jlstm._engine import steps
from jlstm._public import public

__all__ = ["scan"]

Cell = Callable[[Any, Any, Any], tuple[Any, Any]]


def run_cell(
    cell: Cell,
    params: Any,
    xs: Any,
    state: Any,
    flags: steps.StepFlags,
    initial_output: Any,
    *,
    unroll: int | bool = 1,
    remat: bool = False,
    read_out: Callable[[Any, Any], Any] | None = None,
) -> tuple[Any, Any]:
    """Scan `cell` over time-major `xs` (a pytree, in processing order) under `flags`.

    `initial_output` is what a masked step outputs before any step was read (and after
    a reset). `read_out(state, y)`, if given, replaces a step's output by one read from
    its carried state (so that an output that repeats the state equals it to the last
    bit). Outputs come back time-major, in processing order, zero at padded steps.
    """
    state = steps.varying_like(state, xs, params)
    initial_output = steps.varying_like(initial_output, state)

    def body(carry: tuple[Any, Any], step: tuple[Any, Any, Any]) -> tuple[Any, Any]:
        old, previous = carry
        x, update, reset = step
        if reset is not None:
            old = steps.select(reset, state, old)
            if flags.masked:
                previous = steps.select(reset, initial_output, previous)
        new, y = cell(params, old, steps.zero_where_not(update, x))
        new = steps.select(update, new, old)
        if read_out is not None:
            y = read_out(new, y)
        if flags.masked:  # a masked step outputs what the last step read output
            y = steps.select(update, y, previous)
        return (new, y if flags.masked else previous), y

    if remat:
        body = jax.checkpoint(body, prevent_cse=False)
    carry = (state, initial_output if flags.masked else None)
    (final, _), ys = jax.lax.scan(body, carry, (xs, flags.update, flags.reset), unroll=unroll)
    return final, steps.zero_where_not(flags.valid, ys)


@public("jlstm")
def scan(
    cell: Cell,
    params: Any,
    xs: jax.Array,
    state: Any,
    *,
    lengths: jax.Array | None = None,
    mask: jax.Array | None = None,
    resets: jax.Array | None = None,
    reverse: bool = False,
    time_major: bool = False,
    unroll: int | bool = 1,
    remat: bool = False,
) -> tuple[Any, Any]:
    """Run any recurrent cell over a sequence with jlstm's padding, mask and reset rules.

    `cell(params, state, x) -> (state, y)` is one step, e.g. `jlstm.lstm_cell` or a
    researcher's own; `state` and `y` may be any pytrees of `(*batch, ...)` arrays. This is
    what Haiku's `dynamic_unroll` and Flax's `nn.RNN` do, with the rules of `jlstm.lstm`:

    - `lengths` (right padding): steps past a sequence's length are not read, the final
      state is the one after its last valid step, and outputs there are exactly 0;
    - `mask`: a step where it is False carries the state through and outputs what the
      last step that was read output (the initial output is zeros);
    - `resets`: True at step t restarts the sequence from the initial `state` there;
    - `reverse`: runs from the last valid step to the first; padding stays at the end.

    A step that is not read gets `x` zeroed, so a NaN in padding reaches nothing.

    Args:
      cell: one step, `(params, state, x) -> (state, y)`; it must return a state of the
        structure, shapes and dtypes it takes.
      params: anything the cell takes (passed through unchanged).
      xs: inputs of shape `(*batch, time, features)`, or `(time, *batch, features)` with
        `time_major=True`.
      state: the initial state, a pytree of `(*batch, ...)` arrays.
      lengths: `(*batch,)` integers marking right-padded sequences.
      mask: `(*batch, time)` booleans (`(time, *batch)` with `time_major`).
      resets: `(*batch, time)` booleans (layout as `mask`).
      reverse: run from the last step to the first; outputs stay aligned with inputs.
      time_major: whether time is the leading axis of `xs` and of the outputs.
      unroll: steps per loop iteration (see `jax.lax.scan`).
      remat: recompute each step in the backward pass (`jax.checkpoint`).

    Returns:
      `(final_state, ys)`: every leaf of `ys` has the time axis right after the batch
      axes, `(*batch, time, ...)`, or leading with `time_major=True`.

    Example:
      >>> import jax, jax.numpy as jnp, jlstm
      >>> def running_sum(params, total, x):  # a cell: state and output (batch, 1)
      ...     total = total + params * x
      ...     return total, total
      >>> xs = jnp.ones((2, 4, 1))  # (batch, time, features)
      >>> total, ys = jlstm.scan(running_sum, 1.0, xs, jnp.zeros((2, 1)),
      ...                        lengths=jnp.array([4, 2]))
      >>> total[:, 0].tolist(), ys[1, :, 0].tolist()
      ([4.0, 2.0], [1.0, 2.0, 0.0, 0.0])
    """
    for name, value in (("reverse", reverse), ("time_major", time_major), ("remat", remat)):
        check.flag("scan", name, value)
    check.array("scan", "xs", xs)
    layout = "(time, *batch, features)" if time_major else "(*batch, time, features)"
    check.rank("scan", "xs", xs, layout)
    xs = xs if time_major else jnp.moveaxis(xs, -2, 0)
    time, batch_shape = xs.shape[0], tuple(xs.shape[1:-1])
    flags = checked_flags("scan", time, batch_shape, lengths, mask, resets, reverse, time_major)
    y = check.cell("scan", cell, params, state, jax.ShapeDtypeStruct(xs.shape[1:], xs.dtype))
    initial_output = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), y)
    final, ys = run_cell(
        cell,
        params,
        steps.flip(xs, reverse),
        state,
        steps.in_processing_order(flags, reverse),
        initial_output,
        unroll=unroll,
        remat=remat,
    )
    return final, to_layout(steps.flip(ys, reverse), len(batch_shape), time_major)


def checked_flags(
    fn: str,
    time: int,
    batch_shape: tuple[int, ...],
    lengths: Any,
    mask: Any,
    resets: Any,
    reverse: bool,
    time_major: bool,
    *,
    hint: str | None = None,
    run_time: bool = False,
) -> steps.StepFlags:
    """Check `lengths`, `mask` and `resets` against the inputs and build the step flags.

    `hint` is added to a `lengths` shape error; `run_time` adds the checked-mode check of
    traced lengths (see `jlstm.checked`).
    """
    if lengths is not None:
        lengths = check.lengths(fn, lengths, batch_shape, time, hint, run_time=run_time)
    shape = (time, *batch_shape) if time_major else (*batch_shape, time)
    layout = "(time, *batch)" if time_major else "(*batch, time)"

    def per_step(arg: str, value: Any) -> jax.Array | None:
        if value is None:
            return None
        value = check.step_flags(fn, arg, value, shape, layout)
        return value if time_major else jnp.moveaxis(value, -1, 0)

    return steps.step_flags(
        time, lengths, per_step("mask", mask), per_step("resets", resets), reverse
    )


def to_layout(ys: Any, batch_rank: int, time_major: bool) -> Any:
    """Time-major outputs in the caller's layout: time right after the batch axes."""
    return ys if time_major else jax.tree.map(lambda y: jnp.moveaxis(y, 0, batch_rank), ys)
