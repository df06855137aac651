"""One name, one meaning: the renamed arguments and their deprecated aliases.

`param_dtype` is the dtype of the params (Flax's name; `dtype` is the compute dtype, as in
`jlstm.lstm`), `state` the initial state of every runner, and a stack's `num_layers` is
required. The old names still work for now: they warn and give the same result; given
together with the new one, they raise (see the registry of bad inputs).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import assert_same_tree

import jlstm

KEY = jax.random.key(0)
XS = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 3)), jnp.float32)


@pytest.mark.parametrize(
    "init, sizes", [(jlstm.init_lstm, {}), (jlstm.init_stack, {"num_layers": 2})]
)
def test_dtype_is_the_deprecated_name_of_param_dtype(init, sizes):
    expected = init(KEY, 3, 4, param_dtype=jnp.bfloat16, **sizes)
    match = rf"jlstm\.{init.__name__}: `dtype=` is deprecated; use param_dtype"
    with pytest.warns(DeprecationWarning, match=match) as record:
        old = init(KEY, 3, 4, dtype=jnp.bfloat16, **sizes)
    assert record[0].filename == __file__  # the warning points at the caller
    assert_same_tree(old, expected)
    assert {leaf.dtype for leaf in jax.tree.leaves(old)} == {jnp.dtype(jnp.bfloat16)}


@pytest.mark.slow
def test_states_is_the_deprecated_name_of_state():
    params = jlstm.init_stack(KEY, 3, 4, num_layers=2, bidirectional=True)
    initial, zero_start = jlstm.stack(params, XS)  # a nonzero state for every layer
    expected = jlstm.stack(params, XS, state=initial)
    assert not np.allclose(expected[1], zero_start)
    match = r"jlstm\.stack: `states=` is deprecated; use state"
    with pytest.warns(DeprecationWarning, match=match) as record:
        old = jlstm.stack(params, XS, states=initial)
    assert record[0].filename == __file__
    assert_same_tree(old, expected)


def test_init_stack_needs_num_layers():
    with pytest.raises(TypeError, match="num_layers"):
        jlstm.init_stack(KEY, 3, [4, 4])
