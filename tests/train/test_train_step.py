"""`init_train_state` and `make_train_step` against a hand-written Optax loop."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from support.assertions import assert_trees_close
from support.train import (
    LINEAR_STEP,
    OPTIMIZER,
    SGD,
    fresh_state,
    linear_batches,
    linear_loss,
    linear_state,
    loss_fn,
    make_batches,
    manual_run,
)

from jlstm import train


@pytest.mark.slow
def test_step_matches_manual_optax_loop():
    params, losses = manual_run(6)
    state = fresh_state()
    step = train.make_train_step(loss_fn, OPTIMIZER)
    for i, batch in enumerate(make_batches(6)):
        state, (loss, aux) = step(state, batch)
        np.testing.assert_allclose(loss, losses[i], atol=1e-6)
        np.testing.assert_array_equal(aux["loss"], loss)
    assert int(state.step) == 6
    assert_trees_close(state.params, params)


@pytest.mark.parametrize("donate", [True, False])
def test_donation_consumes_the_input_state(donate):
    step = LINEAR_STEP if donate else train.make_train_step(linear_loss, SGD, donate=False)
    state = linear_state()
    weight = state.params["w"]
    step(state, linear_batches(1)[0])
    assert weight.is_deleted() == donate


def test_each_update_gets_a_fresh_key():
    def key_loss(params, batch, key):
        return jnp.sum(params["w"] ** 2), jax.random.key_data(key)

    state = linear_state(key=7)
    step = train.make_train_step(key_loss, SGD)
    key, seen = jax.random.key(7), []
    for _ in range(3):
        state, (_, step_key) = step(state, None)
        key, expected = jax.random.split(key)
        np.testing.assert_array_equal(step_key, jax.random.key_data(expected))
        seen.append(tuple(np.asarray(step_key)))
    assert len(set(seen)) == 3


def test_weak_types_are_fixed_so_the_step_compiles_once():
    state = train.init_train_state({"w": jnp.full((3, 2), 0.5)}, SGD, key=jax.random.key(0))
    assert not state.params["w"].weak_type and state.params["w"].dtype == jnp.float32
    traces = []

    def counting_loss(params, batch, key):
        traces.append(1)  # runs once per trace, i.e. per compilation
        return linear_loss(params, batch, key)

    step = train.make_train_step(counting_loss, SGD)
    for batch in linear_batches(3):
        state, _ = step(state, batch)
    assert len(traces) == 1


def test_clipping_bounds_the_update():
    optimizer = optax.chain(optax.clip_by_global_norm(1e-3), optax.sgd(1.0))
    state = linear_state(optimizer)
    before = np.asarray(state.params["w"])
    state, _ = train.make_train_step(linear_loss, optimizer)(state, linear_batches(1)[0])
    change = np.linalg.norm(np.asarray(state.params["w"]) - before)
    assert 0 < change <= 1e-3 * (1 + 1e-5)


def test_public_names_are_documented():
    for name in train.__all__:
        assert getattr(train, name).__doc__, name
