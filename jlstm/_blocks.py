"""Equal blocks of steps: a number of steps cut into blocks of one size that divides it."""

from __future__ import annotations


def divisor_near(time: int, size: int) -> int | None:
    """The largest divisor of `time` up to `size`; None if it is below a quarter of `size`.

    Example:
      >>> divisor_near(1000, 32), divisor_near(997, 32), divisor_near(10, 32)
      (25, None, 10)
    """
    best = max(d for d in range(1, min(size, time) + 1) if time % d == 0)
    return best if 4 * best >= min(size, time) else None
