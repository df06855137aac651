"""Ensembles under `jax.vmap` equal separate runs; experiments/ensemble.py smoke test."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import assert_same_tree, assert_trees_close
from support.train import OPTIMIZER, init_params, loss_fn, make_batches, raw_keys

from jlstm import train

MEMBERS = 3
ENSEMBLE = pathlib.Path(__file__).parents[2] / "experiments" / "ensemble.py"
SINGLE = train.make_train_step(loss_fn, OPTIMIZER)


def separate_run(key, batches):
    key_params, key_train = jax.random.split(key)
    state = train.init_train_state(jax.jit(init_params)(key_params), OPTIMIZER, key=key_train)
    losses = []
    for batch in batches:
        state, (loss, _) = SINGLE(state, batch)
        losses.append(loss)
    return state, np.array(losses)


def member_batches(batches, index, shared_batch):
    if shared_batch:
        return batches
    return [jax.tree.map(lambda x: x[index], batch) for batch in batches]


@pytest.mark.slow
@pytest.mark.parametrize("shared_batch", [True, False])
def test_ensemble_equals_separate_runs(shared_batch):
    keys = jax.random.split(jax.random.key(0), MEMBERS)
    batches = make_batches(4, lead=() if shared_batch else (MEMBERS,))
    state = train.init_ensemble(init_params, OPTIMIZER, keys)
    step = train.make_ensemble_step(loss_fn, OPTIMIZER, shared_batch=shared_batch)
    state, history = train.fit(step, state, batches)
    assert history.losses.shape == (4, MEMBERS)
    assert state.step.tolist() == [4] * MEMBERS
    assert len(set(history.losses[-1].tolist())) == MEMBERS  # the seeds do differ
    for i in range(MEMBERS):
        alone, losses = separate_run(keys[i], member_batches(batches, i, shared_batch))
        np.testing.assert_allclose(history.losses[:, i], losses, atol=1e-6)
        assert_trees_close(raw_keys(train.ensemble_member(state, i)), raw_keys(alone))


@pytest.mark.slow
def test_mesh_of_one_device_equals_no_mesh():
    keys = jax.random.split(jax.random.key(0), MEMBERS)
    batches = make_batches(3)
    mesh = train.data_mesh(axis_name="member")
    plain, plain_history = train.fit(
        train.make_ensemble_step(loss_fn, OPTIMIZER),
        train.init_ensemble(init_params, OPTIMIZER, keys),
        batches,
    )
    state = train.init_ensemble(init_params, OPTIMIZER, keys, mesh=mesh)
    assert state.params["out"].sharding.spec == jax.sharding.PartitionSpec("member")
    step = train.make_ensemble_step(loss_fn, OPTIMIZER, mesh=mesh)
    state, history = train.fit(step, state, batches)
    np.testing.assert_array_equal(history.losses, plain_history.losses)
    assert_same_tree(raw_keys(state), raw_keys(plain))


def test_ensemble_member_indexes_like_python():
    stacked = {"w": jnp.arange(6.0).reshape(3, 2), "b": jnp.arange(3)}
    for index in (0, np.int64(2), -1):
        member = train.ensemble_member(stacked, index)
        np.testing.assert_array_equal(member["w"], stacked["w"][index])
        assert member["b"] == stacked["b"][index]


@pytest.mark.slow
def test_experiment_runs():
    spec = importlib.util.spec_from_file_location("ensemble", ENSEMBLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(num_models=2, steps=20, hidden_size=4)
    assert result["losses"].shape == (20, 2) and result["accuracy"].shape == (2,)
    assert np.all(np.isfinite(result["losses"]))
    assert np.all(result["losses"][-1] < result["losses"][0])
    assert result["alone_deviation"] < 1e-5
    assert result["evaluation_deviation"] < 1e-6
