"""jlstm's exceptions and the format of every message they carry.

A leaf module (no jlstm imports): every check in `jlstm._validation` raises through `fail`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from jlstm._public import public

__all__ = ["LSTMError", "LSTMTypeError", "LSTMValueError"]


@public("jlstm")
class LSTMError(Exception):
    """Base class of every argument error that jlstm raises."""


@public("jlstm")
class LSTMValueError(LSTMError, ValueError):
    """An argument has the wrong shape, size or value."""


@public("jlstm")
class LSTMTypeError(LSTMError, TypeError):
    """An argument has the wrong type, dtype or pytree structure."""


def fail(
    fn: str,
    arg: str,
    expected: str,
    actual: Any,
    hint: str | None = None,
    *,
    kind: type[LSTMError] = LSTMValueError,
) -> NoReturn:
    """Raise `kind` with jlstm's message format: function, argument, expected, actual, hint."""
    message = f"jlstm.{fn}: `{arg}` must be {expected}, got {actual}."
    if hint:
        message += f" {hint}"
    raise kind(message)


def shape_str(shape: Sequence[int]) -> str:
    """Format a shape the way NumPy prints it: (3,), (2, 5)."""
    return str(tuple(int(d) for d in shape))
