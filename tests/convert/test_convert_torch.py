"""`jlstm.convert` against `torch.nn.LSTM` / `torch.nn.LSTMCell`: round trips and outputs.

Every test imports and runs torch, so all are slow. Run with `-s` to see the largest errors.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import assert_same_tree, check
from support.convert import run_stack
from support.factories import inputs

import jlstm
from jlstm import convert

F32 = 1e-5  # abs tolerance of float32 outputs against PyTorch

pytestmark = [
    pytest.mark.slow,
    # PyTorch warns once that its oneDNN kernel lacks projections; its fallback is compared.
    pytest.mark.filterwarnings("ignore:LSTM with projections is not supported"),
]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def expected_export(state_dict):
    """A PyTorch state dict as it comes back: the bias sum in `bias_ih`, zeros in `bias_hh`."""
    expected = {}
    for key, value in state_dict.items():
        expected[key] = value.numpy()
        if key.startswith("bias_ih"):
            expected[key] = expected[key] + state_dict[key.replace("bias_ih", "bias_hh")].numpy()
        elif key.startswith("bias_hh"):
            expected[key] = np.zeros_like(expected[key])
    return expected


@pytest.mark.parametrize(
    ("num_layers", "bidirectional", "proj_size", "bias"),
    [
        pytest.param(1, False, 0, True, id="one-layer"),
        pytest.param(1, True, 0, False, id="bidirectional-no-bias"),
        pytest.param(2, True, 3, True, id="2-layers-bidirectional-proj"),
        pytest.param(3, False, 2, False, id="3-layers-proj-no-bias"),
    ],
)
def test_torch_lstm_round_trip_and_outputs(torch, num_layers, bidirectional, proj_size, bias):
    batch, time, input_size, hidden = 3, 6, 5, 4
    torch.manual_seed(0)
    kwargs = dict(bias=bias, batch_first=True, bidirectional=bidirectional, proj_size=proj_size)
    module = torch.nn.LSTM(input_size, hidden, num_layers, **kwargs)
    state_dict = module.state_dict()

    params = convert.from_torch(state_dict)
    # One layer comes back as itself (LSTMParams or Bidirectional), more as a stack tuple.
    single = jlstm.Bidirectional if bidirectional else jlstm.LSTMParams
    assert isinstance(params, single if num_layers == 1 else tuple)

    back = convert.to_torch(params)
    assert list(back) == list(state_dict)  # same keys, in PyTorch's order
    for key, expected in expected_export(state_dict).items():
        assert back[key].dtype == expected.dtype, key
        np.testing.assert_array_equal(back[key], expected, err_msg=key)
    assert_same_tree(convert.from_torch(back), params)  # jlstm -> torch -> jlstm is exact

    reloaded = torch.nn.LSTM(input_size, hidden, num_layers, **kwargs)
    reloaded.load_state_dict({k: torch.from_numpy(v) for k, v in back.items()})  # strict

    xs = inputs((batch, time, input_size))
    with torch.no_grad():
        ys_t, (h_t, c_t) = module(torch.from_numpy(xs))
        ys_r, _ = reloaded(torch.from_numpy(xs))
    ys, h_n, c_n = jax.jit(run_stack)(params, jnp.asarray(xs))
    check("torch ys", ys, ys_t, F32)
    check("torch h_n", h_n, h_t, F32)
    check("torch c_n", c_n, c_t, F32)
    check("torch reloaded ys", ys_r, ys_t, F32)


@pytest.mark.parametrize("bias", [True, False])
def test_torch_lstm_cell(torch, bias):
    batch, input_size, hidden = 4, 3, 5
    torch.manual_seed(2)
    cell = torch.nn.LSTMCell(input_size, hidden, bias=bias)
    params = convert.from_torch(cell.state_dict())
    assert isinstance(params, jlstm.LSTMParams)
    assert (params.bias is None) == (not bias)

    back = convert.to_torch(params, cell=True)
    assert list(back) == list(cell.state_dict())
    torch.nn.LSTMCell(input_size, hidden, bias=bias).load_state_dict(
        {k: torch.from_numpy(v) for k, v in back.items()}
    )

    x, h0, c0 = (inputs((batch, n), seed) for seed, n in enumerate((input_size, hidden, hidden)))
    with torch.no_grad():
        h_t, c_t = cell(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
    state, h = jlstm.lstm_cell(params, jlstm.LSTMState(h=jnp.asarray(h0), c=jnp.asarray(c0)), x)
    check("torch cell h", h, h_t, F32)
    check("torch cell c", state.c, c_t, F32)


def test_torch_parameters_with_grad_and_prefix(torch):
    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LSTM(3, 2, num_layers=2))
    expected = convert.from_torch(model[1].state_dict())
    # named_parameters() holds tensors that require grad; they are read without torch.
    assert_same_tree(convert.from_torch(dict(model.named_parameters()), prefix="1."), expected)
    assert_same_tree(convert.from_torch(model.state_dict(), prefix="1."), expected)
    with pytest.raises(jlstm.LSTMValueError, match=r"the key '0\.weight'.*prefix="):
        convert.from_torch(model.state_dict())


def test_torch_float64_keeps_dtype(torch, x64):
    module = torch.nn.LSTM(3, 2, bidirectional=True).double()
    params = convert.from_torch(module.state_dict())
    assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(params))
    assert all(v.dtype == np.float64 for v in convert.to_torch(params).values())


def test_torch_bfloat16_asks_for_a_cast(torch):
    state_dict = torch.nn.LSTM(3, 2).to(torch.bfloat16).state_dict()
    with pytest.raises(
        jlstm.LSTMTypeError, match=r"`state_dict\['weight_ih_l0'\]` .*tensor\.float\(\)"
    ):
        convert.from_torch(state_dict)
