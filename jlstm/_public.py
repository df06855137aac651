"""Public objects report the module users import them from, as JAX's do."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def public(module: str) -> Callable[[T], T]:
    """A decorator that sets `__module__` to `module`, the public home of the object.

    Example:
      >>> @public("jlstm")
      ... def f() -> None: ...
      >>> f.__module__
      'jlstm'
    """

    def set_module(obj: T) -> T:
        obj.__module__ = module
        return obj

    return set_module
