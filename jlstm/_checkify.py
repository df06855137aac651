"""The checked mode: run-time checks of traced values, through `jax.experimental.checkify`.

Shapes, dtypes and concrete values are checked while tracing (`jlstm._checks`). A traced
value (`lengths` computed under `jax.jit`, the numbers in `xs`) is only known when the
program runs, where nothing can raise. `jlstm.lstm(..., checks=True)` states its rules
about such values as `checkify.check`s, and `jlstm.checked` runs a function with them and
raises a jlstm error for the first one that fails. Without `checks=True` nothing of this
is traced, so the default program is unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import jax
import jax.numpy as jnp
from jax.experimental import checkify

from jlstm._errors import LSTMTypeError, LSTMValueError, fail

__all__ = ["checked"]

P = ParamSpec("P")
R = TypeVar("R")

# checkify appends this to the message of a failed check; the jlstm message is complete.
_SUFFIX = " (`check` failed)"


def _first(bad: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """The flat position of the first True of `bad` in row-major order, and its index."""
    flat = jnp.argmax(bad.reshape(-1))
    return flat, jnp.unravel_index(flat, bad.shape)


def _subscript(arg: str, rank: int) -> str:
    """A format string for an element of `arg`: `arg[{}, {}]`; `arg` alone for a scalar."""
    return f"{arg}[{', '.join(['{}'] * rank)}]" if rank else arg


def _check(fn: str, ok: jax.Array, message: str, *values: jax.Array) -> None:
    """`checkify.check` with jlstm errors where checkify cannot report the failure itself.

    Called eagerly, a check runs at once: a failure raises `LSTMValueError`. Traced
    (`jax.jit`, `lax.scan`, ...) outside `checkify.checkify`, checkify refuses to stage
    it; that raises a jlstm error that says how to run the function.
    """
    try:
        checkify.check(ok, message, *values)
    except checkify.JaxRuntimeError as error:
        raise LSTMValueError(str(error).removesuffix(_SUFFIX)) from None
    except ValueError:  # checkify's "not functionalized": staged outside checkify
        fail(
            fn,
            "checks",
            "True only in a function run by jlstm.checked (or checkify.checkify) when traced",
            "a traced call outside both",
            "Wrap the function: jlstm.checked(jax.jit(fn)), or use checkify.checkify(fn, "
            "errors=checkify.user_checks) inside jit; or pass checks=False.",
            kind=LSTMValueError,
        )


def lengths_in_range(fn: str, lengths: jax.Array, time: int) -> None:
    """Check traced `lengths` against `[0, time]`, reporting the first one outside."""
    bad = (lengths < 0) | (lengths > time)
    if not bad.size:
        return
    flat, index = _first(bad)
    message = (
        f"jlstm.{fn}: `lengths` must be in [0, {time}] (the number of time steps), got {{}} at "
        f"{_subscript('lengths', lengths.ndim)}. Without checks it is clipped to [0, {time}]."
    )
    _check(fn, ~jnp.any(bad), message, lengths.reshape(-1)[flat], *index)


def finite_steps(fn: str, arg: str, xs: jax.Array, valid: jax.Array | None) -> None:
    """Check that `xs` is finite wherever `valid` (`xs.shape[:-1]`, or None: everywhere).

    Reports the first non-finite element of a valid step, in the order of `xs`' own axes.
    """
    xs = jnp.asarray(xs)
    bad = ~jnp.isfinite(xs)
    if valid is not None:  # padded and masked steps are never read
        bad = bad & valid[..., None]
    if not bad.size:
        return
    flat, index = _first(bad)
    message = (
        f"jlstm.{fn}: `{arg}` must be finite at every step that is read, got {{}} at "
        f"{_subscript(arg, xs.ndim)}."
    )
    _check(fn, ~jnp.any(bad), message, xs.reshape(-1)[flat], *index)


def checked(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` with its jlstm run-time checks, raising `jlstm.LSTMValueError` if one fails.

    Under `jax.jit` a wrong value cannot raise, so by default jlstm makes do: traced
    `lengths` outside `[0, time]` are clipped to that range (below 0 counts as an empty
    sequence, above `time` as a full one), a NaN in `xs` flows into the outputs of its own
    sequence from its step on, and ±inf is replaced by a large finite number. Calls of
    `jlstm.lstm` with `checks=True` (also through `jlstm.stack` and `jlstm.bidirectional`,
    which pass it on) report these instead, each with the index of the first bad value:

    - traced `lengths` outside `[0, time]`: `lengths[b]`;
    - NaN or ±inf in `xs` at a step that is read (not padding, not masked):
      `xs[b, t, feature]`, in the layout of `xs`.

    They are `jax.experimental.checkify` checks (user checks), which must run inside
    `checkify.checkify`: `checked` does that and raises the first failure. Call the
    function it returns outside of `jax.jit`, and jit the function it wraps, as in the
    example. Inside a jitted function, use `checkify.checkify(fn,
    errors=checkify.user_checks)` and return its error.

    Args:
      fn: a function that calls jlstm with `checks=True`, jitted or not.

    Returns:
      A function with the arguments and results of `fn`, which raises
      `jlstm.LSTMValueError` with the message of the first failed check.

    Example:
      >>> import jax, jax.numpy as jnp, jlstm
      >>> params = jlstm.init_lstm(jax.random.key(0), input_size=2, hidden_size=3)
      >>> def outputs(xs, lengths):  # xs: (batch, time, 2)
      ...     return jlstm.lstm(params, xs, lengths=lengths, checks=True)[1]
      >>> run = jlstm.checked(jax.jit(outputs))
      >>> run(jnp.ones((2, 4, 2)), jnp.array([4, 1])).shape
      (2, 4, 3)
      >>> try:
      ...     run(jnp.ones((2, 4, 2)), jnp.array([4, 5]))
      ... except jlstm.LSTMValueError as error:
      ...     print(error)
      jlstm.lstm: `lengths` must be in [0, 4] (the number of time steps), got 5 at lengths[1]. ...
    """
    checkified = checkify.checkify(fn, errors=checkify.user_checks)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        error, out = checkified(*args, **kwargs)
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(error)):
            fail(
                "checked",
                "the checked function",
                "called outside jax.jit (it raises on the values it computes)",
                "a call while tracing",
                "Inside jit, use checkify.checkify(fn, errors=checkify.user_checks).",
                kind=LSTMTypeError,
            )
        message = error.get()
        if message is not None:
            raise LSTMValueError(message.removesuffix(_SUFFIX))
        return out

    return run
