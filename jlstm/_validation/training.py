"""Trace-time validation shared by the `jlstm.train` modules.

Each check raises a jlstm error naming the public function (as `train.<name>`), the argument,
the expected and the actual value, like the checks of the core in `_checks.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jlstm._errors import LSTMTypeError, fail, shape_str


def function(fn: str, arg: str, value: Any, signature: str) -> None:
    """Check that `value` is callable; `signature` spells the call it must accept."""
    if not callable(value):
        fail(fn, arg, f"a function {signature}", type(value).__name__, kind=LSTMTypeError)


def optimizer(fn: str, value: Any) -> None:
    """Check that `value` looks like an `optax.GradientTransformation` (init and update)."""
    if not (callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))):
        fail(
            fn,
            "optimizer",
            "an optax.GradientTransformation",
            type(value).__name__,
            "Build one with optax, e.g. optax.adam(1e-3).",
            kind=LSTMTypeError,
        )


def checked_loss(fn: str, loss_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap `loss_fn` so that its output is checked to be `(scalar float loss, aux)`.

    The check runs while the step is traced, so a wrong output fails with the argument's
    name instead of deep inside `jax.value_and_grad`.
    """

    def wrapped(*args: Any) -> tuple[jax.Array, Any]:
        out = loss_fn(*args)
        if not (isinstance(out, tuple) and len(out) == 2):
            if isinstance(out, tuple):
                actual = f"a tuple of length {len(out)}"
            elif hasattr(out, "shape"):
                actual = f"an array of shape {shape_str(out.shape)}"
            else:
                actual = f"a {type(out).__name__}"
            fail(fn, "loss_fn", "a function returning (loss, aux)", actual, kind=LSTMTypeError)
        loss = out[0]
        shape = getattr(loss, "shape", None)
        if shape != () or not jnp.issubdtype(loss.dtype, jnp.floating):
            actual = f"a {type(loss).__name__}"
            if shape is not None:
                actual = f"shape {shape_str(shape)}, dtype {loss.dtype}"
            fail(
                fn,
                "loss_fn",
                "a function whose loss is a scalar float array",
                actual,
                "Reduce the loss to one number, e.g. with jnp.mean.",
                kind=LSTMTypeError,
            )
        return out

    return wrapped
