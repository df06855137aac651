"""`convert.from_torch_state` / `to_torch_state` against `torch.nn.LSTM` run from a nonzero state.

Run with `-s` to see the largest errors observed.
"""

import jax
import numpy as np
import pytest
from support.assertions import check

import jlstm
from jlstm import convert

torch = pytest.importorskip("torch")

F32 = 1e-5  # abs tolerance of float32 outputs against PyTorch
BATCH, TIME, INPUT, HIDDEN = 3, 6, 5, 4

# PyTorch warns once that its oneDNN kernel lacks projections; its fallback is what we compare.
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")


def run(params, xs, states, time_major):
    """The functional API's run of `params` (one layer, one bidirectional layer or a stack)."""
    if isinstance(params, jlstm.LSTMParams):
        return jlstm.lstm(params, xs, states, time_major=time_major)
    if isinstance(params, jlstm.Bidirectional):
        return jlstm.bidirectional(params, xs, states, time_major=time_major)
    return jlstm.stack(params, xs, states, time_major=time_major)


@pytest.mark.parametrize("batch_first", [True, False], ids=["batch-first", "time-major"])
@pytest.mark.parametrize(
    ("num_layers", "bidirectional", "proj_size"),
    [
        pytest.param(2, True, 0, id="2-layers-bidirectional"),
        pytest.param(2, False, 3, id="2-layers-proj"),
        pytest.param(2, True, 3, id="2-layers-bidirectional-proj"),
        pytest.param(1, True, 0, id="one-bidirectional-layer"),
        pytest.param(1, False, 2, id="one-layer-proj"),
    ],
)
def test_torch_runs_from_the_same_state(num_layers, bidirectional, proj_size, batch_first):
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
    rng = np.random.default_rng(1)
    shape = (BATCH, TIME, INPUT) if batch_first else (TIME, BATCH, INPUT)
    xs = rng.normal(size=shape).astype(np.float32)
    h_0 = rng.normal(size=(rows, BATCH, proj_size or HIDDEN)).astype(np.float32)
    c_0 = rng.normal(size=(rows, BATCH, HIDDEN)).astype(np.float32)
    with torch.no_grad():
        ys_t, (h_t, c_t) = module(
            torch.from_numpy(xs), (torch.from_numpy(h_0), torch.from_numpy(c_0))
        )
    params = convert.from_torch(module.state_dict())

    states = convert.from_torch_state(torch.from_numpy(h_0), torch.from_numpy(c_0), params)
    assert jax.tree.structure(states) == jax.tree.structure(run(params, xs, None, False)[0])
    final, ys = jax.jit(run, static_argnums=3)(params, xs, states, not batch_first)
    h_n, c_n = convert.to_torch_state(final)
    check("torch ys", ys, ys_t, F32)
    check("torch h_n", h_n, h_t, F32)
    check("torch c_n", c_n, c_t, F32)
    assert h_n.dtype == c_n.dtype == np.float32 and h_n.flags.writeable

    back = convert.to_torch_state(states)  # the round trip is exact
    np.testing.assert_array_equal(back[0], h_0)
    np.testing.assert_array_equal(back[1], c_0)


def test_unbatched_state_and_jit():
    params = jlstm.init_stack(jax.random.key(0), INPUT, HIDDEN, num_layers=2, proj_size=2)
    h_0 = np.arange(4, dtype=np.float32).reshape(2, 2)  # (rows, out_size): one sequence
    c_0 = np.ones((2, HIDDEN), np.float32)
    states = jax.jit(convert.from_torch_state)(h_0, c_0, params)
    assert [s.h.shape for s in states] == [(2,), (2,)]
    np.testing.assert_array_equal(states[1].h, h_0[1])
    np.testing.assert_array_equal(convert.to_torch_state(states)[1], c_0)
