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
from typing import Any, NoReturn, ParamSpec, TypeVar

import jax
import jax.numpy as jnp
from jax.experimental import checkify
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

from jlstm._errors import LSTMTypeError, LSTMValueError, fail
from jlstm._public import public

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


def _outside_checkify(ctx: Any, ok: Any, *, fn: str) -> NoReturn:
    del ctx, ok  # lowered only when no checkify.checkify took the checks out
    fail(
        fn,
        "checks",
        "True only in a function run by jlstm.checked (or checkify.checkify)",
        "a call compiled without either",
        "Wrap the function: jlstm.checked(jax.jit(fn)); inside jit, "
        "checkify.checkify(fn, errors=checkify.user_checks); or pass checks=False.",
        kind=LSTMValueError,
    )


# The predicate of every traced check passes through this identity. checkify.checkify
# drops it with the checks (by a rule in checkify's registry of primitives, which JAX
# keeps private: without it, checkify's own ValueError stands); compiled without
# checkify, its lowering raises a jlstm error that says what to do.
try:
    from jax._src.checkify import error_checks as _checkify_rules
except ImportError:
    _checkify_rules = None
_staged = Primitive("jlstm_checks_need_checkify")
_staged.def_impl(lambda ok, *, fn: ok)
_staged.def_abstract_eval(lambda ok, *, fn: ok)
batching.primitive_batchers[_staged] = lambda args, dims, *, fn: (
    _staged.bind(*args, fn=fn),
    dims[0],
)
mlir.register_lowering(_staged, _outside_checkify)
if _checkify_rules is not None:
    _checkify_rules[_staged] = lambda error, enabled, ok, *, fn: (error, ok)


def _check(fn: str, ok: jax.Array, message: str, *values: jax.Array) -> None:
    """`checkify.check` that reports in jlstm errors where checkify would not.

    Called eagerly, a check runs at once: a failure raises `LSTMValueError`. Traced,
    it must be run by `checkify.checkify` (as `jlstm.checked` does); compiled without it,
    it raises an `LSTMValueError` that says so.
    """
    if isinstance(ok, jax.core.Tracer) and _checkify_rules is not None:
        ok = _staged.bind(ok, fn=fn)
    try:
        checkify.check(ok, message, *values)
    except checkify.JaxRuntimeError as error:
        raise LSTMValueError(str(error).removesuffix(_SUFFIX)) from None


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


@public("jlstm")
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
    errors=checkify.user_checks)` and return its error. Compiled without either
    (`jax.jit(fn)` alone), a function with `checks=True` raises an `LSTMValueError` that
    says so; called eagerly, without any transform, a failed check raises at once.

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
