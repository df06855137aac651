"""One name, one meaning: the renamed arguments and their deprecated aliases.

`param_dtype` is the dtype of the params (Flax's name; `dtype` is the compute dtype, as in
`jlstm.lstm`), `state` the initial state of every runner, and a stack's `num_layers` is
required. The old names still work for now: they warn, give the same result, and raise
when given together with the new one.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlstm
from jlstm import LSTMTypeError

KEY = jax.random.key(0)
XS = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 3)), jnp.float32)


def assert_same(actual, desired):
    assert jax.tree.structure(actual) == jax.tree.structure(desired)
    for a, d in zip(jax.tree.leaves(actual), jax.tree.leaves(desired), strict=True):
        assert a.dtype == d.dtype
        np.testing.assert_array_equal(a, d)


@pytest.mark.parametrize(
    "init, sizes", [(jlstm.init_lstm, {}), (jlstm.init_stack, {"num_layers": 2})]
)
def test_dtype_is_the_deprecated_name_of_param_dtype(init, sizes):
    expected = init(KEY, 3, 4, param_dtype=jnp.bfloat16, **sizes)
    match = rf"jlstm\.{init.__name__}: `dtype=` is deprecated; use param_dtype"
    with pytest.warns(DeprecationWarning, match=match) as record:
        old = init(KEY, 3, 4, dtype=jnp.bfloat16, **sizes)
    assert record[0].filename == __file__  # the warning points at the caller
    assert_same(old, expected)
    assert {leaf.dtype for leaf in jax.tree.leaves(old)} == {jnp.dtype(jnp.bfloat16)}
    with pytest.raises(LSTMTypeError, match=r"`dtype` must be left out when `param_dtype`"):
        init(KEY, 3, 4, dtype=jnp.bfloat16, param_dtype=jnp.float16, **sizes)


def test_states_is_the_deprecated_name_of_state():
    params = jlstm.init_stack(KEY, 3, 4, num_layers=2, bidirectional=True)
    initial, zero_start = jlstm.stack(params, XS)  # a nonzero state for every layer
    expected = jlstm.stack(params, XS, state=initial)
    assert not np.allclose(expected[1], zero_start)
    match = r"jlstm\.stack: `states=` is deprecated; use state"
    with pytest.warns(DeprecationWarning, match=match) as record:
        old = jlstm.stack(params, XS, states=initial)
    assert record[0].filename == __file__
    assert_same(old, expected)
    with pytest.raises(LSTMTypeError, match=r"`states` must be left out when `state` is given"):
        jlstm.stack(params, XS, initial, states=initial)


def test_stack_errors_name_the_state_argument():
    params = jlstm.init_stack(KEY, 3, 4, num_layers=2)
    with pytest.raises(LSTMTypeError, match=r"jlstm\.stack: `state\[1\]` must be an LSTMState"):
        jlstm.stack(params, XS, (None, jlstm.Bidirectional(None, None)))


def test_init_stack_needs_num_layers():
    with pytest.raises(TypeError, match="num_layers"):
        jlstm.init_stack(KEY, 3, [4, 4])
