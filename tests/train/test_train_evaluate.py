"""`evaluate` of an ensemble equals a loop over its members, on a mesh or not."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.train import OPTIMIZER, init_params, make_batches

import jlstm
from jlstm import train


def metrics(params, batch):
    xs, labels, lengths = batch
    _, hs = jlstm.lstm(params["lstm"], xs, lengths=lengths)
    loss = train.sequence_cross_entropy(hs @ params["out"], labels, lengths)
    return {"loss": loss, "h": hs[0, 0]}


@pytest.mark.slow
def test_evaluate_equals_a_loop_over_members():
    state = train.init_ensemble(init_params, OPTIMIZER, jax.random.split(jax.random.key(0), 3))
    batches = make_batches(2)
    for mesh in (None, train.data_mesh(), train.data_mesh(axis_name="member")):
        result = train.evaluate(metrics, state.params, batches, mesh=mesh)
        assert result["loss"].shape == (3,) and result["h"].shape == (3, 4)
        for i in range(3):
            member = train.ensemble_member(state.params, i)
            want = np.mean([metrics(member, batch)["loss"] for batch in batches])
            np.testing.assert_allclose(result["loss"][i], want, rtol=1e-6)


def test_evaluate_averages_over_batches():
    params = {"w": jnp.arange(6.0).reshape(2, 3)}  # 2 models
    batches = [np.ones(3, np.float32), np.full(3, 3.0, np.float32)]
    result = train.evaluate(lambda p, x: {"dot": p["w"] @ x}, params, iter(batches))
    np.testing.assert_allclose(result["dot"], [2 * 3.0, 2 * 12.0])
