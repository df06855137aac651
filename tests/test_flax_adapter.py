"""`jlstm.flax`: the linen and NNX modules against the functional API, Optax and Keras.

Run with `-s` to see the largest errors against Keras.
"""

import functools
import importlib
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jlstm
from jlstm import convert

nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")
jflax = pytest.importorskip("jlstm.flax")

FEATURES = 3
KERAS = 1e-6  # abs tolerance of float32 outputs against Keras
CONFIGS = {
    "layer": {},
    "bidirectional": {"bidirectional": True},
    "stack": {"num_layers": 2, "bidirectional": True, "proj_size": 2, "bias": False},
    "stack-sum": {"num_layers": 2, "bidirectional": True, "merge_mode": "sum"},
}
KEY_ANY = jax.random.key(7)
NOISE = {"num_layers": 2, "dropout": 0.3, "input_dropout": 0.2, "recurrent_dropout": 0.25}


def inputs(shape, seed=1):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def build(kind, xs, **options):
    """A module of `kind` for inputs like `xs`: `(jlstm params, jitted call)`.

    The jitted call takes the params as an argument, as the functional runs below do, so
    that both compile the same computation.
    """
    if kind == "linen":
        model = jflax.LSTM(features=FEATURES, **options)
        variables = jax.jit(model.init)(jax.random.key(0), xs)
        apply = jax.jit(model.apply)
        return variables["params"]["lstm"], lambda *args, **kw: apply(variables, *args, **kw)
    model = jflax.NNXLSTM(xs.shape[-1], FEATURES, rngs=nnx.Rngs(0), **options)
    call = nnx.jit(lambda model, *args, **kw: model(*args, **kw))
    return model.params, lambda *args, **kw: call(model, *args, **kw)


@functools.partial(jax.jit, static_argnames=("merge_mode", "time_major"))
def functional(params, xs, state=None, *, merge_mode="concat", **options):
    """The functional API's run of `params`, as the modules dispatch it."""
    if isinstance(params, jlstm.LSTMParams):
        return jlstm.lstm(params, xs, state, **options)
    if isinstance(params, jlstm.Bidirectional):
        return jlstm.bidirectional(params, xs, state, merge_mode=merge_mode, **options)
    return jlstm.stack(params, xs, state, merge_mode=merge_mode, **options)


def assert_same(actual, desired):
    """Bit-for-bit equality of two pytrees of arrays."""
    assert jax.tree.structure(actual) == jax.tree.structure(desired)
    for a, d in zip(jax.tree.leaves(actual), jax.tree.leaves(desired), strict=True):
        np.testing.assert_array_equal(a, d)


def merge_mode(config):
    return {"merge_mode": config["merge_mode"]} if "merge_mode" in config else {}


# The modules share everything past their plumbing: NNX runs on fewer configs.
@pytest.mark.parametrize(
    "kind, config",
    [("linen", name) for name in CONFIGS] + [("nnx", "layer"), ("nnx", "stack")],
)
def test_params_and_numbers_are_the_functional_apis(kind, config):
    config = CONFIGS[config]
    xs, lengths = inputs((2, 5, 4)), jnp.array([5, 2])
    params, call = build(kind, xs, return_state=True, **config)

    init = {"num_layers": 1} | {
        name: value for name, value in config.items() if name != "merge_mode"
    }
    expected = jlstm.init_stack(jax.random.key(0), 4, FEATURES, **init)
    expected = expected[0] if config.get("num_layers", 1) == 1 else expected
    assert jax.tree.structure(params) == jax.tree.structure(expected)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    if "merge_mode" not in config:
        assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, expected)
    else:  # layer 1 reads the sum of both directions: FEATURES wide, not 2 * FEATURES
        assert params[1].backward.weight_ih.shape == (4 * FEATURES, FEATURES)

    for options in ({}, {"lengths": lengths}):
        ys, *states = call(xs, **options)
        final, ys_ref = functional(params, xs, **options, **merge_mode(config))
        assert_same(ys, ys_ref)
        assert_same(states, jax.tree.leaves(final))


@pytest.mark.parametrize(
    "kind, config", [("linen", "layer"), ("linen", "stack-sum"), ("nnx", "stack-sum")]
)
def test_last_output_time_major_and_initial_state(kind, config):
    config = CONFIGS[config]
    xs = inputs((5, 2, 4))  # (time, batch, features)
    options = dict(config, time_major=True, return_sequences=False, return_state=True)
    params, call = build(kind, xs, **options)
    zero, _ = functional(params, xs, time_major=True, **merge_mode(config))
    state = jax.tree.map(lambda leaf: leaf + 0.5, zero)
    final, _ = functional(params, xs, state, time_major=True, **merge_mode(config))
    output, *states = call(xs, initial_state=state)
    assert_same(states, jax.tree.leaves(final))
    last = final[-1] if config.get("num_layers", 1) > 1 else final  # the last layer's
    bidirectional = isinstance(last, jlstm.Bidirectional)  # merged like the outputs: "sum"
    assert_same(output, last.forward.h + last.backward.h if bidirectional else last.h)
    # The flat list of arrays that return_state gives is never guessed back into states.
    with pytest.raises(jlstm.LSTMTypeError, match=r"flax\.\w*LSTM: `initial_state`.*\(c, h\)"):
        call(xs, initial_state=jax.tree.leaves(state))


@pytest.mark.parametrize("kind", ["linen", "nnx"])
def test_flax_carry_is_refused_and_the_named_state_gives_flax_numbers(kind):
    # A Flax cell's carry is (c, h): read as (h, c) it gave outputs 0.74 off, silently.
    xs = inputs((2, 5, 4))
    params, call = build(kind, xs, return_state=True)
    rnn = nn.RNN(nn.OptimizedLSTMCell(FEATURES), return_carry=True)
    variables = {"params": {"cell": convert.to_flax(params)["params"]}}
    carry = (inputs((2, FEATURES), seed=3), inputs((2, FEATURES), seed=4))  # (c, h)
    with pytest.raises(jlstm.LSTMTypeError, match=r"LSTMState\(h=carry\[1\], c=carry\[0\]\)"):
        call(xs, initial_state=carry)
    ys, h, c = call(xs, initial_state=jlstm.LSTMState(h=carry[1], c=carry[0]))
    flax_carry, flax_ys = rnn.apply(variables, xs, initial_carry=carry)
    np.testing.assert_allclose(ys, flax_ys, atol=1e-6)
    np.testing.assert_allclose(c, flax_carry[0], atol=1e-6)
    np.testing.assert_allclose(h, flax_carry[1], atol=1e-6)


@pytest.mark.parametrize("kind", ["linen", "nnx"])
def test_inputs_follow_flax_dtype_promotion(kind, x64):
    # As nn.Dense: float64 data computes in float64 with float32 params; float16 and NumPy
    # inputs are promoted to the params' float32; the state keeps the params' dtype.
    xs = np.random.default_rng(5).normal(size=(2, 5, 4))
    params, call = build(kind, jnp.asarray(xs, jnp.float32), return_state=True)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    ys, _, c = call(jnp.asarray(xs))
    final, expected = jlstm.lstm(params, jnp.asarray(xs), dtype=jnp.float64)
    assert ys.dtype == jnp.float64 and c.dtype == jnp.float32
    np.testing.assert_array_equal(ys, expected)
    np.testing.assert_array_equal(c, final.c)
    half = jnp.asarray(xs, jnp.float16)
    ys_half, _, _ = call(half)
    assert ys_half.dtype == jnp.float32
    np.testing.assert_array_equal(ys_half, jlstm.lstm(params, half.astype(jnp.float32))[1])
    ys_numpy, _, _ = call(xs.tolist())
    np.testing.assert_array_equal(ys_numpy, ys)
    if kind == "linen":  # init reads float64 data too, and keeps param_dtype
        variables = jflax.LSTM(features=FEATURES).init(KEY_ANY, jnp.asarray(xs))
        assert variables["params"]["lstm"].weight_ih.dtype == jnp.float32


FLAGS = [(True, False), (False, False), (True, True), (False, True)]


def test_return_flags_give_keras_structure():
    xs = inputs((2, 5, 4))
    model = jflax.LSTM(features=FEATURES)
    variables = jax.jit(model.init)(jax.random.key(0), xs)
    final, ys = functional(variables["params"]["lstm"], xs)
    np.testing.assert_array_equal(ys[:, -1], final.h)
    expected = [ys, final.h, (ys, final.h, final.c), (final.h, final.h, final.c)]

    @jax.jit
    def linen_results(variables, xs):
        clones = [model.clone(return_sequences=seq, return_state=state) for seq, state in FLAGS]
        return [clone.apply(variables, xs) for clone in clones]

    nnx_model = jflax.NNXLSTM(4, FEATURES, rngs=nnx.Rngs(0))
    nnx_model.load(variables["params"]["lstm"])
    nnx_results = []
    for sequences, state in FLAGS:
        nnx_model.return_sequences, nnx_model.return_state = sequences, state
        nnx_results.append(nnx_model(xs))
    assert_same(linen_results(variables, xs), expected)
    for actual, desired in zip(nnx_results, expected, strict=True):
        for a, d in zip(jax.tree.leaves(actual), jax.tree.leaves(desired), strict=True):
            np.testing.assert_allclose(a, d, atol=1e-6)  # eager against jitted


def hello_input():
    vocab = "helo"
    ids = jnp.array([[vocab.index(ch) for ch in word] for word in ["hello", "eolll", "lleel"]])
    return jax.nn.one_hot(ids, len(vocab), dtype=jnp.float32)


def check(name, actual, desired, tol):
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape, f"{name}: {actual.shape} != {desired.shape}"
    err = float(np.max(np.abs(actual - desired)))
    print(f"{name}: max abs err {err:.2e}")
    assert err <= tol, f"{name}: max abs error {err:.3g} > {tol:.3g}"


@pytest.mark.parametrize("kind", ["linen", "nnx"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["lstm", "bidirectional"])
def test_hello_demo_matches_keras(kind, bidirectional):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    x_data = hello_input()  # (3, 5, 4)
    options = {"return_sequences": False, "return_state": True, "bidirectional": bidirectional}
    if kind == "linen":
        model = jflax.LSTM(features=2, **options)
        variables = model.init(jax.random.key(0), x_data)
        params, result = variables["params"]["lstm"], model.apply(variables, x_data)
    else:
        model = jflax.NNXLSTM(4, 2, rngs=nnx.Rngs(0), **options)
        params, result = model.params, model(x_data)
    layer = keras.layers.LSTM(units=2, return_state=True)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    # Keras broadcasts ranks implicitly, which the test suite forbids for jlstm.
    with jax.numpy_rank_promotion("allow"):
        layer.build(x_data.shape)
        layer.set_weights(convert.to_keras(params))
        expected = layer(np.asarray(x_data))
    assert len(result) == len(expected) == (5 if bidirectional else 3)
    for name, actual, desired in zip(
        ["output", "h", "c", "h back", "c back"], result, expected, strict=False
    ):
        check(f"{kind} hello {name}", actual, desired, KERAS)


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
    assert_same(grads, jax.jit(jax.grad(functional_loss))(variables["params"]["lstm"]))

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


class NNXTagger(nnx.Module):
    def __init__(self, rngs):
        self.lstm = jflax.NNXLSTM(5, 8, num_layers=2, proj_size=6, rngs=rngs)
        self.readout = nnx.Linear(6, 4, rngs=rngs)

    def __call__(self, xs):
        return self.readout(self.lstm(xs))


def test_inside_a_bigger_nnx_model_with_optimizer():
    xs, labels = inputs((3, 6, 5)), jnp.array([[0, 1, 2, 3, 0, 1]] * 3)
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


def test_linen_jit_and_vmap():
    xs = inputs((3, 5, 4))
    model = jflax.LSTM(features=FEATURES, bidirectional=True, return_state=True)
    variables = model.init(jax.random.key(0), xs)
    params = variables["params"]["lstm"]
    jitted = jax.jit(model.apply)(variables, xs)
    final, ys = jax.jit(jlstm.bidirectional)(params, xs)
    assert_same(jitted, (ys, *jax.tree.leaves(final)))
    # One sequence per call (no batch dims), mapped over the batch.
    mapped = jax.vmap(lambda x: model.apply(variables, x))(xs)
    for a, d in zip(jax.tree.leaves(mapped), jax.tree.leaves(jitted), strict=True):
        np.testing.assert_allclose(a, d, atol=1e-6)


def test_nnx_jit_and_vmap():
    xs = inputs((3, 5, 4))
    model = jflax.NNXLSTM(4, FEATURES, num_layers=2, rngs=nnx.Rngs(0))
    jitted = nnx.jit(lambda model, xs: model(xs))(model, xs)
    _, ys = jax.jit(jlstm.stack)(model.params, xs)
    assert_same(jitted, ys)
    mapped = nnx.vmap(lambda model, x: model(x), in_axes=(None, 0))(model, xs)
    np.testing.assert_allclose(mapped, ys, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(model)(xs), ys, atol=1e-6)  # plain jax.vmap too


class FirstDropoutKey(nn.Module):
    """Draws what a top-level module's first `make_rng("dropout")` draws."""

    @nn.compact
    def __call__(self):
        return self.make_rng("dropout")


def test_linen_dropout_uses_the_flax_rng():
    xs = inputs((2, 5, 4))
    model = jflax.LSTM(features=FEATURES, **NOISE)
    variables = model.init(jax.random.key(0), xs, deterministic=True)
    params = variables["params"]["lstm"]
    noise = {name: NOISE[name] for name in ("dropout", "input_dropout", "recurrent_dropout")}
    _, clean = jlstm.stack(params, xs, deterministic=True, **noise)
    assert_same(model.apply(variables, xs, deterministic=True), clean)

    key = jax.random.key(7)
    noisy = model.apply(variables, xs, deterministic=False, rngs={"dropout": key})
    drawn = FirstDropoutKey().apply({}, rngs={"dropout": key})
    _, expected = jlstm.stack(params, xs, key=drawn, **noise)
    assert_same(noisy, expected)
    other = model.apply(variables, xs, deterministic=False, rngs={"dropout": jax.random.key(8)})
    assert not np.array_equal(noisy, other)
    assert not np.array_equal(noisy, clean)

    training = jflax.LSTM(features=FEATURES, deterministic=False, **NOISE)
    call_time = training.apply(variables, xs, deterministic=True)  # the call wins
    assert_same(call_time, clean)
    with pytest.raises(jlstm.LSTMValueError, match=r"flax\.LSTM: `rngs`.*dropout"):
        training.apply(variables, xs)
    with pytest.raises(jlstm.LSTMValueError, match=r"flax\.LSTM: `deterministic`"):
        model.apply(variables, xs)


def test_nnx_dropout_uses_the_nnx_rngs():
    xs = inputs((2, 5, 4))
    model = jflax.NNXLSTM(4, FEATURES, rngs=nnx.Rngs(0, dropout=1), **NOISE)
    params = model.params
    noise = {name: NOISE[name] for name in ("dropout", "input_dropout", "recurrent_dropout")}
    _, clean = jlstm.stack(params, xs, deterministic=True, **noise)

    key = jax.random.key(7)
    _, expected = jlstm.stack(params, xs, key=key, **noise)
    assert_same(model(xs, rngs=key), expected)
    first, second = model(xs), model(xs)  # the module's own stream moves on
    assert not np.array_equal(first, second)
    twin = jflax.NNXLSTM(4, FEATURES, rngs=nnx.Rngs(0, dropout=1), **NOISE)
    assert_same(twin(xs), first)

    model.eval()
    assert_same(model(xs), clean)
    model.train()
    assert not np.array_equal(model(xs), clean)
    assert_same(nnx.view(model, deterministic=True)(xs), clean)
    assert_same(model(xs, deterministic=True), clean)

    no_stream = jflax.NNXLSTM(4, FEATURES, rngs=nnx.Rngs(params=0), **NOISE)
    with pytest.raises(jlstm.LSTMValueError, match=r"flax\.NNXLSTM: `rngs`.*dropout"):
        no_stream(xs)
    first_key = nnx.Rngs(dropout=7).dropout()
    assert_same(no_stream(xs, rngs=nnx.Rngs(dropout=7)), no_stream(xs, rngs=first_key))


def test_default_and_custom_initialisers():
    xs = inputs((2, 5, 4))
    params, _ = build("linen", xs)
    np.testing.assert_array_equal(params.bias, np.repeat([0.0, 1.0, 0.0, 0.0], FEATURES))
    w = np.asarray(params.weight_hh, np.float64)  # (4*features, features), orthonormal columns
    np.testing.assert_allclose(w.T @ w, np.eye(FEATURES), atol=1e-5)
    limit = np.sqrt(6 / (4 + 4 * FEATURES))  # Glorot uniform of a (12, 4) matrix
    assert np.abs(params.weight_ih).max() <= limit

    custom = {
        "weight_ih_init": jax.nn.initializers.zeros,
        "bias_init": jax.nn.initializers.ones,
        "forget_bias": 0.0,
        "param_dtype": jnp.bfloat16,
        "dtype": jnp.float32,
    }
    linen_params = jflax.LSTM(FEATURES, **custom).init(jax.random.key(0), xs)["params"]["lstm"]
    model = jflax.NNXLSTM(4, FEATURES, rngs=nnx.Rngs(0), **custom)
    for params in (linen_params, model.params):
        np.testing.assert_array_equal(params.weight_ih, 0)
        np.testing.assert_array_equal(params.bias, 1)
        assert {leaf.dtype for leaf in jax.tree.leaves(params)} == {jnp.dtype(jnp.bfloat16)}
    assert_same(model(xs), jlstm.lstm(model.params, xs, dtype=jnp.float32)[1])


def test_nnx_load_converted_weights():
    xs = inputs((2, 5, 4))
    model = jflax.NNXLSTM(4, FEATURES, bidirectional=True, rngs=nnx.Rngs(0))
    other = jlstm.init_stack(jax.random.key(3), 4, FEATURES, num_layers=1, bidirectional=True)[0]
    model.load(convert.from_keras(convert.to_keras(other)))
    assert_same(model.params, other)
    assert_same(model(xs), jlstm.bidirectional(other, xs)[1])
    with pytest.raises(jlstm.LSTMValueError, match=r"flax\.NNXLSTM\.load: `params`"):
        model.load(other.forward)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"dropout": 0.2}, r"`dropout` must be 0.0 for one layer.*input_dropout"),
        ({"proj_size": FEATURES}, r"`proj_size` must be smaller than features=3"),
        ({"merge_mode": "ave"}, r"`merge_mode` must be one of.*'mean'"),
        ({"input_dropout": 1.0}, r"`input_dropout` must be in \[0, 1\)"),
        ({"num_layers": 0}, r"`num_layers` must be a positive int"),
    ],
)
@pytest.mark.parametrize("kind", ["linen", "nnx"])
def test_bad_options_raise(kind, options, match):
    with pytest.raises(jlstm.LSTMValueError, match=match):
        build(kind, inputs((2, 5, 4)), **options)


def test_helpful_error_without_flax(monkeypatch):
    for name in list(sys.modules):
        if name.split(".")[0] == "flax" or name.startswith("jlstm.flax"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "flax", None)  # what `import flax` sees when missing
    with pytest.raises(ImportError, match=r"pip install 'jlstm\[flax\]'"):
        importlib.import_module("jlstm.flax")


@pytest.mark.parametrize("kind", ["linen", "nnx"])
def test_errors_inside_name_the_module(kind):
    _, call = build(kind, inputs((2, 5, 4)))
    with pytest.raises(jlstm.LSTMValueError, match=r"`xs` must be of shape") as error:
        call(jnp.ones((4,)))  # no time axis
    assert "jlstm.flax." in str(error.value) + "".join(getattr(error.value, "__notes__", []))
    with pytest.raises(jlstm.LSTMTypeError, match=r"jlstm\.lstm: `xs`.*dtype") as error:
        call(jnp.ones((2, 5, 4), jnp.int32))
    assert any("(called by jlstm.flax." in note for note in error.value.__notes__)


def pure(kind, xs, **options):
    """A module of `kind` as `(jlstm params, a pure function of the inputs)`, for transforms."""
    if kind == "linen":
        model = jflax.LSTM(features=FEATURES, **options)
        variables = model.init(jax.random.key(0), xs)
        return variables["params"]["lstm"], lambda x: model.apply(variables, x)
    model = jflax.NNXLSTM(xs.shape[-1], FEATURES, rngs=nnx.Rngs(0), **options)
    graphdef, state = nnx.split(model)
    return model.params, lambda x: nnx.merge(graphdef, state)(x)


@pytest.mark.parametrize("kind", ["linen", "nnx"])
def test_loop_options_reach_every_layer(kind):
    # unroll / remat select how the loop runs, not what it computes.
    xs = inputs((2, 6, 4))
    options = {"num_layers": 2, "bidirectional": True, "unroll": 2, "remat": True}
    params, call = pure(kind, xs, **options)
    loop = {"unroll": 2, "remat": True}
    np.testing.assert_allclose(call(xs), jlstm.stack(params, xs, **loop)[1], atol=1e-6)
    tangent = inputs(xs.shape, seed=2)
    _, tangent_out = jax.jvp(call, (xs,), (tangent,))
    _, expected = jax.jvp(lambda x: jlstm.stack(params, x, **loop)[1], (xs,), (tangent,))
    np.testing.assert_allclose(tangent_out, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["linen", "nnx"])
def test_checks_option_reports_through_checked(kind):
    xs = inputs((2, 5, 4)).at[1, 3, 0].set(jnp.nan)
    _, call = pure(kind, xs, checks=True)  # linen's init skips the checks
    with pytest.raises(jlstm.LSTMValueError, match=r"xs\[1, 3, 0\]"):
        jlstm.checked(jax.jit(call))(xs)
    _, unchecked = pure(kind, xs)
    assert np.isnan(np.asarray(unchecked(xs))[1, 3:]).all()


@pytest.mark.parametrize("kind", ["linen", "nnx"])
@pytest.mark.parametrize("flag", ["remat", "checks"])
def test_loop_flags_must_be_bools(kind, flag):
    with pytest.raises(jlstm.LSTMTypeError, match=rf"`{flag}` must be a Python bool, got 'yes'"):
        pure(kind, inputs((2, 5, 4)), **{flag: "yes"})
