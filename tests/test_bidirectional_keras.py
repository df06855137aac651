"""`bidirectional` against `keras.layers.Bidirectional` loaded with the same weights.

Run with `-s` to see the largest errors observed against Keras.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import check
from support.factories import GAPPED

import jlstm
from jlstm import Bidirectional, LSTMParams, LSTMState

KERAS = 1e-6  # abs tolerance against Keras


@pytest.mark.slow
@pytest.mark.parametrize(
    "merge_mode, masking, initial_state",
    [
        ("concat", None, False),
        ("sum", None, True),
        ("mean", "lengths", False),
        ("mul", "gapped", True),
        (None, "lengths", True),
    ],
)
def test_matches_keras_bidirectional(keras, merge_mode, masking, initial_state):
    """Right padding as `lengths`, or any Keras mask as the `mask` option of `jlstm.lstm`."""
    units, rng = 4, np.random.default_rng(3)
    xs = rng.normal(size=(4, 6, 5)).astype(np.float32)
    lengths = np.array([6, 0, 3, 1])
    masks = {None: None, "lengths": np.arange(6) < lengths[:, None], "gapped": GAPPED[:, :6]}
    mask = masks[masking]
    weights = [  # forward then backward: kernel = weight_ih.T, recurrent_kernel = weight_hh.T
        rng.uniform(-0.5, 0.5, shape).astype(np.float32)
        for _ in range(2)
        for shape in ((5, 4 * units), (units, 4 * units), (4 * units,))
    ]
    states = [rng.uniform(-0.5, 0.5, (4, units)).astype(np.float32) for _ in range(4)]
    keras_mode = "ave" if merge_mode == "mean" else merge_mode
    zeros = {"kernel_initializer": "zeros", "recurrent_initializer": "zeros"}
    cell = keras.layers.LSTM(units, return_sequences=True, return_state=True, **zeros)
    layer = keras.layers.Bidirectional(cell, merge_mode=keras_mode)
    with jax.numpy_rank_promotion("allow"):  # Keras relies on implicit rank promotion
        layer.build(xs.shape)
        layer.set_weights(weights)
        outputs = layer(xs, mask=mask, initial_state=states if initial_state else None)
    outputs = [np.asarray(o) for o in outputs]
    ys_keras = Bidirectional(*outputs[:2]) if merge_mode is None else outputs[0]

    params = Bidirectional(
        *(
            LSTMParams(jnp.asarray(kernel.T), jnp.asarray(recurrent.T), jnp.asarray(bias))
            for kernel, recurrent, bias in (weights[:3], weights[3:])
        )
    )
    state = None
    if initial_state:
        state = Bidirectional(LSTMState(*states[:2]), LSTMState(*states[2:]))
    # Keras' Bidirectional zeroes the outputs at masked steps, where jlstm.lstm (like a plain
    # Keras LSTM) repeats the carried h: compare the unmasked steps of a gapped mask.
    options = {"mask": mask} if masking == "gapped" else {"lengths": lengths} if masking else {}
    final, ys = jax.jit(
        lambda p, x, s: jlstm.bidirectional(p, x, s, merge_mode=merge_mode, **options)
    )(params, xs, state)
    if masking == "gapped":
        ys = jax.tree.map(lambda y: np.where(mask[..., None], y, 0), ys)
    jax.tree.map(lambda a, b: check("keras ys", a, b, KERAS), ys, ys_keras)
    names = ("forward h", "forward c", "backward h", "backward c")
    for name, actual, desired in zip(names, jax.tree.leaves(final), outputs[-4:], strict=True):
        check(f"keras {name}", actual, desired, KERAS)
