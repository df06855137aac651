"""`jlstm.flax.LSTM` (linen): jit and vmap, dropout from the Flax rng, gradients and training
with Optax, inside a bigger model."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn
from support.assertions import assert_same_tree
from support.factories import inputs
from support.modules import FEATURES, NOISE, functional

import jlstm
from jlstm import flax as jflax


@pytest.mark.slow
def test_linen_jit_and_vmap():
    xs = inputs((3, 5, 4))
    model = jflax.LSTM(features=FEATURES, bidirectional=True, return_state=True)
    variables = model.init(jax.random.key(0), xs)
    params = variables["params"]["lstm"]
    jitted = jax.jit(model.apply)(variables, xs)
    final, ys = jax.jit(jlstm.bidirectional)(params, xs)
    assert_same_tree(jitted, (ys, *jax.tree.leaves(final)))
    # One sequence per call (no batch dims), mapped over the batch.
    mapped = jax.vmap(lambda x: model.apply(variables, x))(xs)
    for a, d in zip(jax.tree.leaves(mapped), jax.tree.leaves(jitted), strict=True):
        np.testing.assert_allclose(a, d, atol=1e-6)


class FirstDropoutKey(nn.Module):
    """Draws what a top-level module's first `make_rng("dropout")` draws."""

    @nn.compact
    def __call__(self):
        return self.make_rng("dropout")


@pytest.mark.slow
def test_linen_dropout_uses_the_flax_rng():
    xs = inputs((2, 5, 4))
    model = jflax.LSTM(features=FEATURES, **NOISE)
    variables = model.init(jax.random.key(0), xs, deterministic=True)
    params = variables["params"]["lstm"]
    noise = {name: NOISE[name] for name in ("dropout", "input_dropout", "recurrent_dropout")}
    _, clean = jlstm.stack(params, xs, deterministic=True, **noise)
    assert_same_tree(model.apply(variables, xs, deterministic=True), clean)

    key = jax.random.key(7)
    noisy = model.apply(variables, xs, deterministic=False, rngs={"dropout": key})
    drawn = FirstDropoutKey().apply({}, rngs={"dropout": key})
    _, expected = jlstm.stack(params, xs, key=drawn, **noise)
    assert_same_tree(noisy, expected)
    other = model.apply(variables, xs, deterministic=False, rngs={"dropout": jax.random.key(8)})
    assert not np.array_equal(noisy, other)
    assert not np.array_equal(noisy, clean)

    training = jflax.LSTM(features=FEATURES, deterministic=False, **NOISE)
    call_time = training.apply(variables, xs, deterministic=True)  # the call wins
    assert_same_tree(call_time, clean)


@pytest.mark.slow
def test_linen_grads_equal_functional_and_optax_trains():
    xs = inputs((4, 6, 3))
    targets = 0.8 * jnp.tanh(jnp.cumsum(xs[..., :2], axis=1) / 2)  # running sums: learnable
    model = jflax.LSTM(features=2, num_layers=2, bidirectional=True, merge_mode="mean")
    variables = jax.jit(model.init)(jax.random.key(0), xs)

    def loss(variables):
        return jnp.mean((model.apply(variables, xs) - targets) ** 2)

    def functional_loss(params):
        _, ys = jlstm.stack(params, xs, merge_mode="mean")
        return jnp.mean((ys - targets) ** 2)

    grads = jax.jit(jax.grad(loss))(variables)["params"]["lstm"]
    assert_same_tree(grads, jax.jit(jax.grad(functional_loss))(variables["params"]["lstm"]))

    optimizer = optax.adam(0.05)
    opt_state = optimizer.init(variables)

    @jax.jit
    def step(variables, opt_state):
        value, grads = jax.value_and_grad(loss)(variables)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(variables, updates), opt_state, value

    losses = []
    for _ in range(30):
        variables, opt_state, value = step(variables, opt_state)
        losses.append(float(value))
    assert losses[-1] < 0.5 * losses[0]
    assert isinstance(variables["params"]["lstm"][1], jlstm.Bidirectional)


class Tagger(nn.Module):
    """An LSTM with dropout between its layers, then a per-step Dense read-out."""

    @nn.compact
    def __call__(self, xs, lengths, *, deterministic):
        hs = jflax.LSTM(features=8, **NOISE)(xs, lengths=lengths, deterministic=deterministic)
        return nn.Dense(4)(hs)


@pytest.mark.slow
def test_inside_a_bigger_linen_model():
    xs, labels = inputs((3, 6, 5)), jnp.array([[0, 1, 2, 3, 0, 1]] * 3)
    lengths = jnp.array([6, 4, 1])
    model = Tagger()
    init = jax.jit(model.init, static_argnames="deterministic")
    variables = init(jax.random.key(0), xs, lengths, deterministic=True)
    params = variables["params"]
    assert set(params) == {"LSTM_0", "Dense_0"}
    apply = jax.jit(model.apply, static_argnames="deterministic")
    logits = apply(variables, xs, lengths, deterministic=True)
    _, hs = functional(params["LSTM_0"]["lstm"], xs, lengths=lengths)
    dense = params["Dense_0"]
    expected = hs @ dense["kernel"] + dense["bias"].reshape(1, 1, -1)
    np.testing.assert_allclose(logits, expected, atol=1e-6)

    optimizer = optax.adam(0.05)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, key):
        def loss(params):
            logits = model.apply(
                {"params": params}, xs, lengths, deterministic=False, rngs={"dropout": key}
            )
            mask = jnp.arange(6)[None, :] < lengths[:, None]
            losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
            return jnp.sum(losses * mask) / jnp.sum(mask)

        value, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, value

    losses = []
    for key in jax.random.split(jax.random.key(1), 30):
        params, opt_state, value = step(params, opt_state, key)
        losses.append(float(value))
    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:5])
