"""`convert.from_torch_state` / `to_torch_state` against `torch.nn.LSTM` run from a nonzero state.

Run with `-s` to see the largest errors observed.
"""

import jax
import numpy as np
import pytest
from support.assertions import check
from support.convert import random_stack
from support.factories import inputs
from support.layers import run

from jlstm import convert

F32 = 1e-5  # abs tolerance of float32 outputs against PyTorch
BATCH, TIME, INPUT, HIDDEN = 3, 6, 5, 4


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")
@pytest.mark.parametrize(
    ("num_layers", "bidirectional", "proj_size", "batch_first"),
    [
        pytest.param(2, True, 3, True, id="2-layers-bidirectional-proj-batch-first"),
        pytest.param(2, True, 3, False, id="2-layers-bidirectional-proj-time-major"),
        pytest.param(2, False, 3, True, id="2-layers-proj"),
        pytest.param(1, True, 0, False, id="one-bidirectional-layer"),
        pytest.param(1, False, 2, True, id="one-layer-proj"),
    ],
)
def test_torch_runs_from_the_same_state(torch, num_layers, bidirectional, proj_size, batch_first):
    torch.manual_seed(0)
    module = torch.nn.LSTM(
        INPUT,
        HIDDEN,
        num_layers,
        batch_first=batch_first,
        bidirectional=bidirectional,
        proj_size=proj_size,
    )
    rows = num_layers * (1 + bidirectional)
    xs = inputs((BATCH, TIME, INPUT) if batch_first else (TIME, BATCH, INPUT))
    h_0 = inputs((rows, BATCH, proj_size or HIDDEN), 2)
    c_0 = inputs((rows, BATCH, HIDDEN), 3)
    with torch.no_grad():
        ys_t, (h_t, c_t) = module(
            torch.from_numpy(xs), (torch.from_numpy(h_0), torch.from_numpy(c_0))
        )
    params = convert.from_torch(module.state_dict())

    states = convert.from_torch_state(torch.from_numpy(h_0), torch.from_numpy(c_0), params)
    final, ys = jax.jit(run, static_argnames="time_major")(
        params, xs, states, time_major=not batch_first
    )
    assert jax.tree.structure(states) == jax.tree.structure(final)
    h_n, c_n = convert.to_torch_state(final)
    check("torch ys", ys, ys_t, F32)
    check("torch h_n", h_n, h_t, F32)
    check("torch c_n", c_n, c_t, F32)
    assert h_n.dtype == c_n.dtype == np.float32 and h_n.flags.writeable


@pytest.mark.parametrize(
    ("num_layers", "bidirectional", "proj_size"),
    [(2, True, 3), (1, True, None), (1, False, 2)],
    ids=["2-layers-bidirectional-proj", "one-bidirectional-layer", "one-layer-proj"],
)
def test_states_round_trip_exactly(num_layers, bidirectional, proj_size):
    params = random_stack(0, INPUT, HIDDEN, num_layers, bidirectional, proj_size)
    rows = num_layers * (1 + bidirectional)
    h_0, c_0 = inputs((rows, BATCH, proj_size or HIDDEN), 2), inputs((rows, BATCH, HIDDEN), 3)
    states = convert.from_torch_state(h_0, c_0, params)
    final = jax.eval_shape(lambda: run(params, inputs((BATCH, TIME, INPUT)))[0])
    expected = jax.tree.structure(final)
    assert jax.tree.structure(states) == expected  # the structure the functional API takes
    back = convert.to_torch_state(states)
    np.testing.assert_array_equal(back[0], h_0)
    np.testing.assert_array_equal(back[1], c_0)


def test_unbatched_state_and_jit():
    params = random_stack(0, INPUT, HIDDEN, num_layers=2, proj_size=2)
    h_0 = np.arange(4, dtype=np.float32).reshape(2, 2)  # (rows, out_size): one sequence
    c_0 = np.ones((2, HIDDEN), np.float32)
    states = jax.jit(convert.from_torch_state)(h_0, c_0, params)
    assert [s.h.shape for s in states] == [(2,), (2,)]
    np.testing.assert_array_equal(states[1].h, h_0[1])
    np.testing.assert_array_equal(convert.to_torch_state(states)[1], c_0)
