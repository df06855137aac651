"""Bad inputs raise jlstm errors at trace time, naming the argument, expected and actual."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import jlstm
from jlstm import LSTMState, LSTMTypeError, LSTMValueError

KEY = jax.random.key(0)
PARAMS = jlstm.init_lstm(KEY, 3, 4)
PROJ = jlstm.init_lstm(KEY, 3, 4, proj_size=2)
XS = jnp.zeros((2, 5, 3), jnp.float32)


def state(batch=(2,), out=4, hidden=4, dtype=jnp.float32):
    return LSTMState(jnp.zeros((*batch, out), dtype), jnp.zeros((*batch, hidden), dtype))


LSTM_CASES = [
    (
        "feature size",
        {"xs": jnp.zeros((2, 5, 7))},
        LSTMValueError,
        r"`xs` .*\(\*batch, time, 3\).*\(2, 5, 7\)",
    ),
    (
        "rank",
        {"xs": jnp.zeros((3,))},
        LSTMValueError,
        r"`xs` must be of shape .* got shape \(3,\) \(rank 1\)",
    ),
    (
        "int input",
        {"xs": jnp.zeros((2, 5, 3), jnp.int32)},
        LSTMTypeError,
        r"`xs` .*floating.*int32",
    ),
    ("bool input", {"xs": jnp.zeros((2, 5, 3), bool)}, LSTMTypeError, r"`xs` .*floating.*bool"),
    ("complex input", {"xs": jnp.zeros((2, 5, 3), jnp.complex64)}, LSTMTypeError, "complex64"),
    ("string input", {"xs": "abc"}, LSTMTypeError, r"`xs` must be an array, got str"),
    (
        "mixed dtypes",
        {"xs": jnp.zeros((2, 5, 3), jnp.bfloat16)},
        LSTMTypeError,
        r"params' dtype float32.*bfloat16.*dtype=",
    ),
    (
        "bad compute dtype",
        {"dtype": jnp.int8},
        LSTMTypeError,
        r"`dtype` must be a floating dtype.*int8",
    ),
    (
        "bare array state",
        {"state": jnp.zeros((2, 4))},
        LSTMTypeError,
        r"`state` must be an LSTMState\(h=\.\.\., c=\.\.\.\), got ArrayImpl",
    ),
    ("tuple state", {"state": (jnp.zeros((2, 4)),) * 2}, LSTMTypeError, r"got tuple\. .*\(c, h\)"),
    (
        "state batch",
        {"state": state(batch=(3,))},
        LSTMValueError,
        r"`state.h` must be of shape \(2, 4\), got shape \(3, 4\)",
    ),
    (
        "state size",
        {"state": state(hidden=5)},
        LSTMValueError,
        r"`state.c` must be of shape \(2, 4\), got shape \(2, 5\)",
    ),
    (
        "state dtype",
        {"state": state(dtype=jnp.bfloat16)},
        LSTMTypeError,
        r"`state.h` .*float32.*bfloat16",
    ),
    ("state time-major mix-up", {"state": state(batch=(5,))}, LSTMValueError, "time_major=True"),
    (
        "lengths shape",
        {"lengths": jnp.array([1, 2, 3])},
        LSTMValueError,
        r"`lengths` .*\(2,\).*\(3,\)",
    ),
    (
        "lengths float",
        {"lengths": jnp.array([1.0, 2.0])},
        LSTMTypeError,
        r"`lengths` must be an integer array, got dtype float32",
    ),
    (
        "lengths too long",
        {"lengths": np.array([6, 2])},
        LSTMValueError,
        r"`lengths` must be in \[0, 5\].*\[2, 6\]",
    ),
    ("lengths negative", {"lengths": np.array([-1, 2])}, LSTMValueError, r"\[-1, 2\]"),
    ("unroll zero", {"unroll": 0}, LSTMValueError, r"`unroll`"),
    ("unroll float", {"unroll": 2.0}, LSTMTypeError, r"`unroll`"),
    (
        "params type",
        {"params": {"weight_ih": 1}},
        LSTMTypeError,
        r"`params` must be an LSTMParams, got dict",
    ),
    (
        "weight_hh shape",
        {"params": PARAMS._replace(weight_hh=jnp.zeros((16, 5)))},
        LSTMValueError,
        r"`params.weight_hh` must be of shape \(16, 4\), got shape \(16, 5\)",
    ),
    (
        "weight_ih rows",
        {"params": PARAMS._replace(weight_ih=jnp.zeros((10, 3)))},
        LSTMValueError,
        r"`params.weight_ih`.*4\*hidden_size.*\(10, 3\)",
    ),
    (
        "bias shape",
        {"params": PARAMS._replace(bias=jnp.zeros(15))},
        LSTMValueError,
        r"`params.bias` must be of shape \(16,\), got shape \(15,\)",
    ),
    (
        "weight_hr shape",
        {"params": PROJ._replace(weight_hr=jnp.zeros((2, 5)))},
        LSTMValueError,
        r"`params.weight_hr`",
    ),
    (
        "params dtypes",
        {"params": PARAMS._replace(bias=PARAMS.bias.astype(jnp.bfloat16))},
        LSTMTypeError,
        r"`params` must be all of one dtype",
    ),
    (
        "int params",
        {"params": PARAMS._replace(weight_ih=jnp.zeros((16, 3), jnp.int32))},
        LSTMTypeError,
        r"`params.weight_ih` .*floating",
    ),
]


@pytest.mark.parametrize("case, change, error, match", LSTM_CASES, ids=[c[0] for c in LSTM_CASES])
def test_lstm_rejects(case, change, error, match):
    kwargs = {"params": PARAMS, "xs": XS} | change
    with pytest.raises(error, match=match) as info:
        jax.eval_shape(lambda: jlstm.lstm(**kwargs))
    assert str(info.value).startswith("jlstm.lstm: ")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"hidden_size": 0}, LSTMValueError, r"`hidden_size` must be a positive int, got 0"),
        ({"hidden_size": -3}, LSTMValueError, r"`hidden_size`.*-3"),
        ({"input_size": 2.5}, LSTMTypeError, r"`input_size` must be a positive int, got 2.5"),
        (
            {"proj_size": 4},
            LSTMValueError,
            r"`proj_size` must be smaller than hidden_size=4, got 4",
        ),
        ({"proj_size": 0}, LSTMValueError, r"`proj_size` must be a positive int"),
        ({"param_dtype": jnp.int32}, LSTMTypeError, r"`param_dtype` must be a floating dtype"),
    ],
)
def test_init_rejects(kwargs, error, match):
    with pytest.raises(error, match=match):
        jlstm.init_lstm(KEY, **({"input_size": 3, "hidden_size": 4} | kwargs))


def test_cell_rejects():
    with pytest.raises(LSTMValueError, match=r"jlstm.lstm_cell: `x` .*\(\*batch, 3\)"):
        jlstm.lstm_cell(PARAMS, state(), jnp.zeros((2, 4)))
    with pytest.raises(LSTMValueError, match=r"`state.h` must be of shape \(2, 2\)"):
        jlstm.lstm_cell(PROJ, state(), jnp.zeros((2, 3)))


def test_zero_state_rejects():
    with pytest.raises(LSTMTypeError, match="`params` must be an LSTMParams"):
        jlstm.zero_state((PARAMS,))
    with pytest.raises(LSTMValueError, match="`batch_shape`"):
        jlstm.zero_state(PARAMS, (-1,))


def test_errors_are_standard_exceptions():
    assert issubclass(LSTMValueError, ValueError) and issubclass(LSTMTypeError, TypeError)
    assert issubclass(LSTMValueError, jlstm.LSTMError)


def test_accepts_lengths_as_list():
    _, ys = jlstm.lstm(PARAMS, XS, lengths=[5, 1])
    assert ys.shape == (2, 5, 4)


def test_checks_compiled_without_checked_say_how_to_run_them():
    # Not in the registry of tests/test_bad_inputs.py: it raises when jit compiles the
    # call (checkify can only take the checks out then), so jax.eval_shape cannot see it.
    def outputs(xs):
        return jlstm.lstm(PARAMS, xs, lengths=jnp.array([5, 2]), checks=True)[1]

    message = r"^jlstm\.lstm: `checks` must be True only in a function run by jlstm\.checked"
    hint = r".*Wrap the function: jlstm\.checked\(jax\.jit\(fn\)\)"
    for run in (jax.jit(outputs), jax.jit(jax.grad(lambda xs: outputs(xs).sum()))):
        with pytest.raises(LSTMValueError, match=message + hint):
            run(XS)
    bad = XS.at[0, 2, 1].set(jnp.nan)
    with pytest.raises(
        LSTMValueError, match=r"^jlstm\.lstm: `xs` must be finite.*xs\[0, 2, 1\]\.$"
    ):
        jlstm.checked(jax.jit(outputs))(bad)  # the advice works, after the failed compile
    with pytest.raises(
        LSTMValueError, match=r"^jlstm\.lstm: `xs` must be finite.*xs\[0, 2, 1\]\.$"
    ):
        outputs(bad)  # eagerly, a check raises at once, as a jlstm error
    error, _ = jax.jit(checkify.checkify(outputs, errors=checkify.user_checks))(bad)
    assert "xs[0, 2, 1]" in error.get()
