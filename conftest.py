"""Marks the slowest doctests `slow`, so that the quick run (`pytest -m "not slow"`) skips them.

The doctests of `jlstm.train` compile whole training loops and `init_stack`'s draws
orthogonal matrices for many layers; the full run still runs every doctest.
"""

from __future__ import annotations

import pytest
from _pytest.doctest import DoctestItem

SLOW_DOCTESTS = ("jlstm.train", "jlstm.init_stack")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the doctests named in `SLOW_DOCTESTS` (and those below them) `slow`."""
    for item in items:
        if isinstance(item, DoctestItem) and item.name.startswith(SLOW_DOCTESTS):
            item.add_marker(pytest.mark.slow)
