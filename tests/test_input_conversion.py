"""Everyday inputs: NumPy arrays, nested lists and PyTorch tensors, read as `jnp.asarray` would.

NumPy float64 data and Python lists are what users have at hand; JAX turns them into
float32 arrays when x64 is off, and so does jlstm before it checks dtypes. A JAX array of
another dtype than the params' is still refused (see the registry of bad inputs), and a
PyTorch tensor gets a message that says how to convert it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import assert_same_tree
from support.factories import random_layer

import jlstm

KEY = jax.random.key(0)
PARAMS = random_layer(0, 3, 4)
PAIR = jlstm.Bidirectional(PARAMS, random_layer(1, 3, 4))
STACK = (PARAMS, random_layer(2, 4, 4))
DATA = np.random.default_rng(0).normal(size=(2, 5, 3))  # float64, (batch, time, input_size)
XS = jnp.asarray(DATA, jnp.float32)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["numpy-float64", "list"])
def test_numpy_and_list_inputs_give_the_float32_numbers(form):
    data = DATA if form == "numpy-float64" else DATA.tolist()
    assert_same_tree(jlstm.lstm(PARAMS, data), jlstm.lstm(PARAMS, XS))
    assert_same_tree(jax.jit(jlstm.lstm)(PARAMS, data), jlstm.lstm(PARAMS, XS))
    assert_same_tree(jlstm.bidirectional(PAIR, data), jlstm.bidirectional(PAIR, XS))
    assert_same_tree(jlstm.stack(STACK, data), jlstm.stack(STACK, XS))
    state = jlstm.zero_state(PARAMS, (2,))
    x = DATA[:, 0] if form == "numpy-float64" else DATA[:, 0].tolist()
    assert_same_tree(jlstm.lstm_cell(PARAMS, state, x), jlstm.lstm_cell(PARAMS, state, XS[:, 0]))


@pytest.mark.slow
def test_numpy_state_lengths_and_mask():
    rng = np.random.default_rng(1)
    h, c = rng.normal(size=(2, 2, 4))  # float64 leaves
    mask = rng.random((2, 5)) < 0.7  # NumPy bools
    expected = jlstm.lstm(
        PARAMS,
        XS,
        jlstm.LSTMState(h=jnp.asarray(h, jnp.float32), c=jnp.asarray(c, jnp.float32)),
        lengths=jnp.array([5, 3]),
        mask=jnp.asarray(mask),
    )
    state = jlstm.LSTMState(h=h, c=c)
    assert_same_tree(jlstm.lstm(PARAMS, DATA, state, lengths=np.array([5, 3]), mask=mask), expected)
    assert_same_tree(jlstm.lstm(PARAMS, DATA, state, lengths=[5, 3], mask=mask.tolist()), expected)


@pytest.mark.slow
def test_with_x64_numpy_float64_is_float64_as_in_jnp_asarray(x64):
    # jnp.asarray keeps float64 under x64, so float32 params refuse it like a JAX array.
    for data in (DATA, jnp.asarray(DATA)):
        with pytest.raises(jlstm.LSTMTypeError, match=r"float32 .*got dtype float64"):
            jlstm.lstm(PARAMS, data)
    params64 = jax.tree.map(lambda w: w.astype(jnp.float64), PARAMS)
    assert_same_tree(jlstm.lstm(params64, DATA), jlstm.lstm(params64, jnp.asarray(DATA)))


@pytest.mark.slow
def test_torch_tensors_get_a_conversion_hint(torch):
    tensor = torch.from_numpy(DATA.astype(np.float32)).requires_grad_()
    hint = r"got a PyTorch Tensor\. Convert it first: "
    hint += r"jnp\.asarray\(x\.detach\(\)\.cpu\(\)\.numpy\(\)\)"
    with pytest.raises(jlstm.LSTMTypeError, match=r"^jlstm\.lstm: `xs` must be .*" + hint):
        jlstm.lstm(PARAMS, tensor)
    with pytest.raises(jlstm.LSTMTypeError, match=r"^jlstm\.lstm: `lengths` .*" + hint):
        jlstm.lstm(PARAMS, XS, lengths=torch.tensor([5, 3]))
    converted = jnp.asarray(tensor.detach().cpu().numpy())
    assert_same_tree(jlstm.lstm(PARAMS, converted), jlstm.lstm(PARAMS, XS))
