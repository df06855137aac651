"""Plotting helpers shared by the experiments; matplotlib is optional (`pip install .[plot]`)."""

from __future__ import annotations

import importlib.util
import pathlib
from typing import Any

import numpy as np

DPI = 80  # small PNGs for the docs


def figure(**kwargs: Any) -> Any:
    """A `matplotlib.figure.Figure`, or None (with a note) when matplotlib is not installed.

    A bare `Figure` needs no pyplot and no GUI backend: the experiments only write files.
    """
    if importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no plot (pip install 'jlstm[plot]')")
        return None
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save_figure(fig: Any, path: str | pathlib.Path) -> None:
    """Write `fig` as a PNG to `path`, creating its folder."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    print(f"plot: {path} ({path.stat().st_size / 1024:.0f} KB)")


def moving_average(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """`(steps, means)`: means of `window` consecutive values, at their last (1-based) step."""
    width = min(window, len(values))
    means = np.convolve(values, np.ones(width) / width, mode="valid")
    return np.arange(width, len(values) + 1), means
