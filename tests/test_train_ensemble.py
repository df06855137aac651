"""Ensembles under `jax.vmap` equal separate runs; experiments/ensemble.py smoke test."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jlstm
from jlstm import LSTMTypeError, LSTMValueError, train

MEMBERS = 3
OPTIMIZER = optax.adam(0.05)
ENSEMBLE = pathlib.Path(__file__).parents[1] / "experiments" / "ensemble.py"


def init_params(key):
    key_lstm, key_out = jax.random.split(key)
    return {
        "lstm": jlstm.init_lstm(key_lstm, 3, 4),
        "out": jax.random.uniform(key_out, (4, 2), jnp.float32, -1.0, 1.0),
    }


def loss_fn(params, batch, key):
    xs, targets = batch
    xs = xs * (1.0 + 0.1 * jax.random.uniform(key, dtype=xs.dtype))  # key-dependent
    state, _ = jlstm.lstm(params["lstm"], xs)
    loss = jnp.mean((state.h @ params["out"] - targets) ** 2)
    return loss, {"h_mean": jnp.mean(state.h)}


def make_batches(count, lead=(), seed=0):
    rng = np.random.default_rng(seed)
    return [
        (
            rng.normal(size=(*lead, 4, 5, 3)).astype(np.float32),
            rng.normal(size=(*lead, 4, 2)).astype(np.float32),
        )
        for _ in range(count)
    ]


SINGLE = train.make_train_step(loss_fn, OPTIMIZER)
INIT = jax.jit(init_params)


def separate_run(key, batches):
    key_params, key_train = jax.random.split(key)
    state = train.init_train_state(INIT(key_params), OPTIMIZER, key=key_train)
    losses = []
    for batch in batches:
        state, (loss, _) = SINGLE(state, batch)
        losses.append(loss)
    return state, np.array(losses)


def assert_trees_close(a, b, atol=1e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=0)


def member_batches(batches, index, shared_batch):
    if shared_batch:
        return batches
    return [jax.tree.map(lambda x: x[index], batch) for batch in batches]


@pytest.mark.parametrize("shared_batch", [True, False])
def test_ensemble_equals_separate_runs(shared_batch):
    keys = jax.random.split(jax.random.key(0), MEMBERS)
    lead = () if shared_batch else (MEMBERS,)
    batches = make_batches(4, lead)
    state = train.init_ensemble(init_params, OPTIMIZER, keys)
    step = train.make_ensemble_step(loss_fn, OPTIMIZER, shared_batch=shared_batch)
    state, history = train.fit(step, state, batches)
    assert history.losses.shape == (4, MEMBERS)
    assert state.step.tolist() == [4] * MEMBERS
    assert len(set(history.losses[-1].tolist())) == MEMBERS  # the seeds do differ
    for i in range(MEMBERS):
        alone, losses = separate_run(keys[i], member_batches(batches, i, shared_batch))
        np.testing.assert_allclose(history.losses[:, i], losses, atol=1e-6)
        assert_trees_close(train.ensemble_member(state, i), alone)


def test_bad_arguments():
    with pytest.raises(LSTMValueError, match=r"init_ensemble: `keys` must be a batch of PRNG keys"):
        train.init_ensemble(init_params, OPTIMIZER, jax.random.key(0))
    with pytest.raises(LSTMTypeError, match=r"init_ensemble: `init_params` must be a function"):
        train.init_ensemble(None, OPTIMIZER, jax.random.split(jax.random.key(0), 2))
    with pytest.raises(LSTMTypeError, match=r"ensemble_member: `index` must be an int"):
        train.ensemble_member({}, 1.0)


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
    assert_trees_close(state, plain, atol=0)


def mse(params, batch):
    xs, targets = batch
    state, _ = jlstm.lstm(params["lstm"], xs)
    return {"mse": jnp.mean((state.h @ params["out"] - targets) ** 2), "h": state.h[0]}


def test_evaluate_equals_a_loop_over_members():
    state = train.init_ensemble(init_params, OPTIMIZER, jax.random.split(jax.random.key(0), 3))
    batches = make_batches(2)
    for mesh in (None, train.data_mesh(), train.data_mesh(axis_name="member")):
        result = train.evaluate(mse, state.params, batches, mesh=mesh)
        assert result["mse"].shape == (3,) and result["h"].shape == (3, 4)
        for i in range(3):
            member = train.ensemble_member(state.params, i)
            want = np.mean([mse(member, batch)["mse"] for batch in batches])
            np.testing.assert_allclose(result["mse"][i], want, rtol=1e-6)


def test_mesh_errors():
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(
        LSTMValueError, match=r'init_ensemble: `mesh` must be a mesh with a "member"'
    ):
        train.init_ensemble(init_params, OPTIMIZER, keys, mesh=train.data_mesh())
    with pytest.raises(
        LSTMValueError, match=r'make_ensemble_step: `mesh` must be a mesh with a "member"'
    ):
        train.make_ensemble_step(loss_fn, OPTIMIZER, mesh=train.data_mesh())
    with pytest.raises(
        LSTMTypeError, match=r"make_ensemble_step: `mesh` must be a jax.sharding.Mesh"
    ):
        train.make_ensemble_step(loss_fn, OPTIMIZER, mesh=jax.devices())
    step = train.make_ensemble_step(loss_fn, OPTIMIZER, mesh=train.data_mesh(axis_name="member"))
    single = train.init_train_state(INIT(jax.random.key(0)), OPTIMIZER, key=jax.random.key(1))
    with pytest.raises(LSTMValueError, match=r"`state` must be a stacked ensemble"):
        step(single, make_batches(1)[0])
    with pytest.raises(LSTMValueError, match=r"evaluate: `batches` must be at least one batch"):
        train.evaluate(mse, single.params, [])
    with pytest.raises(LSTMTypeError, match=r"evaluate: `fn` must be a function"):
        train.evaluate(None, single.params, [])
