"""The bad-input cases of `jlstm.train`."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from jlstm import train
from support.bad_inputs.common import (
    Case,
    T,
    V,
)

CASES = [
    Case("train-step-loss", "train.make_train_step", "loss_fn", T, r"got int",
         lambda: train.make_train_step(3, optax.adam(1e-3))),
    Case("train-step-optimizer", "train.make_train_step", "optimizer", T, r"got str",
         lambda: train.make_train_step(lambda params, batch, key: (0.0, None), "adam")),
    Case("train-float-labels", "train.sequence_cross_entropy", "labels", T,
         r"integer array, got dtype float32",
         lambda: train.sequence_cross_entropy(jnp.zeros((2, 5, 4)), jnp.zeros((2, 5)))),
    Case("train-lengths-shape", "train.masked_mean", "lengths", V, r"\(2,\).*got shape \(1,\)",
         lambda: train.masked_mean(jnp.zeros((2, 5)), jnp.array([5]))),
    Case("train-float-lengths", "train.last_valid", "lengths", T, r"got dtype float32",
         lambda: train.last_valid(jnp.zeros((2, 5, 4)), jnp.array([5.0, 5.0]))),
    Case("train-mask-negative-time", "train.sequence_mask", "time", V, r"non-negative int, got -1",
         lambda: train.sequence_mask(jnp.array([2, 0]), -1)),
]  # fmt: skip
