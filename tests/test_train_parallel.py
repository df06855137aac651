"""Data parallelism: `fit` on 4 (forced host) devices equals the one-device run."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from jlstm import LSTMTypeError, LSTMValueError, train

# Runs in a fresh interpreter: the device count is fixed when JAX starts.
SCRIPT = textwrap.dedent(
    """
    import json
    import jax, jax.numpy as jnp, numpy as np, optax, jlstm
    from jlstm import train

    jax.config.update("jax_numpy_rank_promotion", "raise")

    def loss_fn(params, batch, key):
        xs, labels, lengths = batch
        xs = xs * (1.0 + 0.1 * jax.random.uniform(key, dtype=xs.dtype))  # key-dependent
        _, hs = jlstm.lstm(params["lstm"], xs, lengths=lengths)
        return train.sequence_cross_entropy(hs @ params["out"], labels, lengths), None

    def fresh_state():
        key_lstm, key_out = jax.random.split(jax.random.key(0))
        params = {"lstm": jlstm.init_lstm(key_lstm, 3, 8),
                  "out": jax.random.uniform(key_out, (8, 5), jnp.float32, -0.5, 0.5)}
        return train.init_train_state(params, optimizer, key=jax.random.key(1))

    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(8, 6, 3)).astype(np.float32),
                rng.integers(0, 5, (8, 6)).astype(np.int32),
                rng.integers(0, 7, (8,)).astype(np.int32)) for _ in range(8)]
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
    step = train.make_train_step(loss_fn, optimizer)
    one, one_history = train.fit(step, fresh_state(), batches)
    mesh = train.data_mesh()
    many, many_history = train.fit(step, fresh_state(), batches, mesh=mesh)
    params_error = max(float(jnp.max(jnp.abs(a - b)))
                       for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(many.params)))
    print(json.dumps({
        "devices": jax.device_count(),
        "mesh_size": mesh.size,
        "one_device": [d.id for d in one.params["out"].devices()],
        "loss_error": float(np.max(np.abs(one_history.losses - many_history.losses))),
        "params_error": params_error,
        "replicated": all(x.sharding.is_fully_replicated for x in jax.tree.leaves(many)),
        "losses": one_history.losses.tolist(),
    }))
    """
)


def test_sharded_fit_equals_single_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    env["JAX_PLATFORMS"] = "cpu"
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["devices"] == 4 and result["mesh_size"] == 4
    assert result["one_device"] == [0]
    assert result["loss_error"] <= 1e-6, result
    assert result["params_error"] <= 1e-6, result
    assert result["replicated"]
    assert np.all(np.isfinite(result["losses"]))


def test_one_device_mesh_helpers():
    mesh = train.data_mesh()
    params = train.replicate({"w": np.ones((2, 3), np.float32)}, mesh)
    assert params["w"].sharding.is_fully_replicated
    batch = train.shard_batch((np.zeros((4, 5), np.float32), np.arange(4)), mesh)
    assert batch[0].shape == (4, 5) and batch[1].tolist() == [0, 1, 2, 3]
    assert train.shard_batch(batch, mesh)[0] is batch[0]  # already placed: left as is


def test_bad_arguments():
    with pytest.raises(LSTMTypeError, match=r"train.replicate: `mesh` must be a jax.sharding.Mesh"):
        train.replicate({}, jax.devices())
    with pytest.raises(LSTMValueError, match=r"`devices` must be at least one device"):
        train.data_mesh([])
    with pytest.raises(LSTMValueError, match=r"shard_batch: `batch` must be arrays whose leading"):
        train.shard_batch(np.float32(1.0), train.data_mesh())
