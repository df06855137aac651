"""`fit` leaves the caller's arrays usable, although its steps donate their input buffers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jlstm
from jlstm import train

OPTIMIZER = optax.adam(1e-2)


def loss_fn(params, batch, key):
    xs, targets = batch
    state, _ = jlstm.lstm(params, xs)
    return jnp.mean((state.h - targets) ** 2), None


BATCHES = [(jnp.ones((4, 5, 3)), jnp.full((4, 2), 0.5))] * 3


@pytest.mark.parametrize("mesh", [None, "data_mesh"])
def test_caller_arrays_survive_donation(mesh):
    params = jlstm.init_lstm(jax.random.key(0), input_size=3, hidden_size=2)
    kept = jax.device_get(params)
    state = train.init_train_state(params, OPTIMIZER, key=jax.random.key(1))
    step = train.make_train_step(loss_fn, OPTIMIZER)  # donates its input state
    mesh = train.data_mesh() if mesh else None
    final, history = train.fit(step, state, BATCHES, mesh=mesh)
    for leaf, value in zip(jax.tree.leaves(params), jax.tree.leaves(kept), strict=True):
        assert not leaf.is_deleted()
        np.testing.assert_array_equal(leaf, value)
    assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(state))
    assert int(state.step) == 0 and int(final.step) == 3
    # The state passed in trains again to the same result: nothing of it was consumed.
    again, again_history = train.fit(step, state, BATCHES, mesh=mesh)
    np.testing.assert_array_equal(history.losses, again_history.losses)
    np.testing.assert_array_equal(final.params.weight_ih, again.params.weight_ih)
