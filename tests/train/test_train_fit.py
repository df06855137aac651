"""`fit` against a hand-written Optax loop; the caller's arrays survive donating steps."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import assert_same_tree, assert_trees_close
from support.train import (
    LINEAR_STEP,
    OPTIMIZER,
    fresh_state,
    linear_batches,
    linear_state,
    loss_fn,
    make_batches,
    manual_run,
    raw_keys,
)

from jlstm import LSTMTypeError, train


@pytest.mark.slow
def test_fit_matches_manual_loop_and_reports():
    params, losses = manual_run(6)
    seen = []

    def evaluate(state):
        seen.append(int(state.step))
        return {"out_sum": jnp.sum(state.params["out"]), "ones": np.ones(2)}

    step = train.make_train_step(loss_fn, OPTIMIZER)
    state, history = train.fit(step, fresh_state(), make_batches(6), eval_fn=evaluate, eval_every=4)
    np.testing.assert_allclose(history.losses, losses, atol=1e-6)
    assert_trees_close(state.params, params)
    assert seen == [4, 6]
    assert [step for step, _ in history.metrics] == [4, 6]
    final = history.metrics[-1][1]
    assert final["out_sum"] == pytest.approx(float(jnp.sum(state.params["out"])))
    np.testing.assert_array_equal(final["ones"], np.ones(2))
    assert math.isfinite(history.steps_per_second) and history.steps_per_second > 0


def test_fit_num_steps_and_generators():
    batches = itertools.cycle(linear_batches(2))
    state, history = train.fit(LINEAR_STEP, linear_state(), batches, num_steps=5)
    assert history.losses.shape == (5,) and int(state.step) == 5
    state, history = train.fit(LINEAR_STEP, state, iter(linear_batches(1)))
    assert history.losses.shape == (1,) and int(state.step) == 6
    assert math.isnan(history.steps_per_second)  # one call: nothing timed after compiling
    state, history = train.fit(LINEAR_STEP, state, [])
    assert history.losses.shape == (0,) and int(state.step) == 6


def test_fit_progress_bar(capsys):
    train.fit(LINEAR_STEP, linear_state(), linear_batches(10), progress=True)
    out = capsys.readouterr().out
    assert "training" in out and "10/10" in out and "loss" in out
    train.fit(LINEAR_STEP, linear_state(), linear_batches(2))
    assert capsys.readouterr().out == ""  # not a terminal: no bar by default


@pytest.mark.parametrize("mesh", [None, "data_mesh"])
def test_caller_arrays_survive_donation(mesh):
    state = linear_state()
    kept = jax.tree.map(np.array, raw_keys(state))
    mesh = train.data_mesh() if mesh else None
    batches = linear_batches(3)
    final, history = train.fit(LINEAR_STEP, state, batches, mesh=mesh)  # a donating step
    assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(state))
    assert_same_tree(raw_keys(state), kept)
    assert int(state.step) == 0 and int(final.step) == 3
    # The state passed in trains again to the same result: nothing of it was consumed.
    again, again_history = train.fit(LINEAR_STEP, state, batches, mesh=mesh)
    np.testing.assert_array_equal(history.losses, again_history.losses)
    np.testing.assert_array_equal(final.params["w"], again.params["w"])


def test_eval_fn_must_return_a_dict():
    with pytest.raises(LSTMTypeError, match=r"`eval_fn` must be a function returning a dict"):
        train.fit(LINEAR_STEP, linear_state(), linear_batches(1), eval_fn=lambda state: 1.0)
