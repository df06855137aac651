"""`jlstm.flax.NNXLSTM`: jit and vmap, dropout from the module's rngs, loading converted
weights, gradients and training with `nnx.Optimizer`, inside a bigger model."""

import jax
import numpy as np
import optax
import pytest
from flax import nnx
from support.assertions import assert_same_tree
from support.factories import inputs
from support.modules import FEATURES, NOISE

import jlstm
from jlstm import convert
from jlstm import flax as jflax


@pytest.mark.slow
def test_nnx_jit_and_vmap():
    xs = inputs((3, 5, 4))
    model = jflax.NNXLSTM(4, FEATURES, num_layers=2, rngs=nnx.Rngs(0))
    jitted = nnx.jit(lambda model, xs: model(xs))(model, xs)
    _, ys = jax.jit(jlstm.stack)(model.params, xs)
    assert_same_tree(jitted, ys)
    mapped = nnx.vmap(lambda model, x: model(x), in_axes=(None, 0))(model, xs)
    np.testing.assert_allclose(mapped, ys, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(model)(xs), ys, atol=1e-6)  # plain jax.vmap too


@pytest.mark.slow
def test_nnx_dropout_uses_the_nnx_rngs():
    xs = inputs((2, 5, 4))
    model = jflax.NNXLSTM(4, FEATURES, rngs=nnx.Rngs(0, dropout=1), **NOISE)
    params = model.params
    noise = {name: NOISE[name] for name in ("dropout", "input_dropout", "recurrent_dropout")}
    _, clean = jlstm.stack(params, xs, deterministic=True, **noise)

    key = jax.random.key(7)
    _, expected = jlstm.stack(params, xs, key=key, **noise)
    assert_same_tree(model(xs, rngs=key), expected)
    first, second = model(xs), model(xs)  # the module's own stream moves on
    assert not np.array_equal(first, second)
    twin = jflax.NNXLSTM(4, FEATURES, rngs=nnx.Rngs(0, dropout=1), **NOISE)
    assert_same_tree(twin(xs), first)

    model.eval()
    assert_same_tree(model(xs), clean)
    model.train()
    assert not np.array_equal(model(xs), clean)
    assert_same_tree(nnx.view(model, deterministic=True)(xs), clean)
    assert_same_tree(model(xs, deterministic=True), clean)

    no_stream = jflax.NNXLSTM(4, FEATURES, rngs=nnx.Rngs(params=0), **NOISE)  # rngs at call
    first_key = nnx.Rngs(dropout=7).dropout()
    assert_same_tree(no_stream(xs, rngs=nnx.Rngs(dropout=7)), no_stream(xs, rngs=first_key))


@pytest.mark.slow
def test_nnx_load_converted_weights():
    xs = inputs((2, 5, 4))
    model = jflax.NNXLSTM(4, FEATURES, bidirectional=True, rngs=nnx.Rngs(0))
    other = jlstm.init_stack(jax.random.key(3), 4, FEATURES, num_layers=1, bidirectional=True)[0]
    model.load(convert.from_keras(convert.to_keras(other)))
    assert_same_tree(model.params, other)
    assert_same_tree(model(xs), jlstm.bidirectional(other, xs)[1])


class NNXTagger(nnx.Module):
    def __init__(self, rngs):
        self.lstm = jflax.NNXLSTM(5, 8, num_layers=2, proj_size=6, rngs=rngs)
        self.readout = nnx.Linear(6, 4, rngs=rngs)

    def __call__(self, xs):
        return self.readout(self.lstm(xs))


@pytest.mark.slow
def test_inside_a_bigger_nnx_model_with_optimizer():
    xs, labels = inputs((3, 6, 5)), np.array([[0, 1, 2, 3, 0, 1]] * 3)
    model = NNXTagger(nnx.Rngs(0))

    def loss(model):
        logits = model(xs)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    def functional_loss(params):
        _, hs = jlstm.stack(params, xs)
        logits = hs @ model.readout.kernel[...] + model.readout.bias[...].reshape(1, 1, -1)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    grads = nnx.jit(nnx.grad(loss))(model)
    graphdef, _ = nnx.split(model)
    lstm_grads = nnx.merge(graphdef, grads).lstm.params
    expected = jax.jit(jax.grad(functional_loss))(model.lstm.params)
    for a, d in zip(jax.tree.leaves(lstm_grads), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, d, rtol=1e-5, atol=1e-7)
    assert jax.tree.structure(lstm_grads) == jax.tree.structure(expected)

    optimizer = nnx.Optimizer(model, optax.adam(0.05), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        value, grads = nnx.value_and_grad(loss)(model)
        optimizer.update(model, grads)
        return value

    losses = [float(step(model, optimizer)) for _ in range(20)]
    assert losses[-1] < 0.75 * losses[0]
    assert isinstance(model.lstm.params[0], jlstm.LSTMParams)
