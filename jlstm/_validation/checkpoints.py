"""Checks of a checkpoint restore: the template against the leaves saved on disk.

A checkpoint describes each saved leaf by its path in the tree, its shape and its dtype
(JSON, as `jlstm.train.save_checkpoint` writes it). A template of another structure or
leaf dtype is an `LSTMTypeError`, a leaf of another shape an `LSTMValueError`.
"""

from __future__ import annotations

from typing import Any

from jlstm._errors import LSTMTypeError, fail


def _differing_paths(saved: list[str], wanted: list[str]) -> str:
    missing = [path for path in saved if path not in wanted]
    extra = [path for path in wanted if path not in saved]
    parts = []
    if missing:
        parts.append(f"{len(missing)} saved leaves missing (first: {missing[0]})")
    if extra:
        parts.append(f"{len(extra)} leaves the checkpoint lacks (first: {extra[0]})")
    return "a template with " + (" and ".join(parts) or "the saved leaves in another order")


def template(fn: str, saved: list[dict[str, Any]], wanted: list[dict[str, Any]], at: str) -> None:
    """Check the `template` of a restore (`wanted`) against the `saved` leaves, found `at`.

    Both are lists of leaf descriptions, `{"path": ..., "shape": [...], "dtype": ...}`, in
    the order of the flattened trees; `at` says where the checkpoint is ("step 3 of dir").
    """
    paths = [leaf["path"] for leaf in saved], [leaf["path"] for leaf in wanted]
    if paths[0] != paths[1]:
        hint = "Build the template the way the saved state was built (same model and optimizer)."
        expected = f"a pytree of the structure saved in {at}"
        fail(fn, "template", expected, _differing_paths(*paths), hint, kind=LSTMTypeError)
    for have, want in zip(saved, wanted, strict=True):
        arg = f"template{want['path']}"
        if have["shape"] != want["shape"]:
            expected = f"of shape {tuple(have['shape'])} as saved in {at}"
            fail(fn, arg, expected, f"shape {tuple(want['shape'])}")
        if have["dtype"] != want["dtype"]:
            hint = "Orbax would cast silently; restore with the saved dtype, then cast explicitly."
            expected = f"of dtype {have['dtype']} as saved in {at}"
            fail(fn, arg, expected, f"dtype {want['dtype']}", hint, kind=LSTMTypeError)
