"""`init_stack` and `stack`: torch.nn.LSTM parity, mixed stacks, inter-layer dropout, errors.

Run with `-s` to see the largest errors observed against PyTorch.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from support import oracle as reference
from test_bidirectional import MERGES, check, inputs, random_layer, random_state

import jlstm
from jlstm import Bidirectional, LSTMParams, LSTMState, LSTMTypeError, LSTMValueError

F32 = 1e-5  # abs tolerance of float32 values against PyTorch
GRAD_RTOL = 1e-4  # gradient tolerance, relative to the largest entry of the reference
EXACT = 1e-6  # the same float32 computation composed two ways


def directions(layer):
    """The `LSTMParams` (or `LSTMState`) of a layer in PyTorch's order: forward, then reverse."""
    return tuple(layer) if isinstance(layer, Bidirectional) else (layer,)


# ---------------------------------------------------------------------------------------------
# Parity with torch.nn.LSTM
# ---------------------------------------------------------------------------------------------

BATCH, TIME, INPUT, HIDDEN, PROJ = 6, 7, 3, 5, 2
LENGTHS = (7, 5, 5, 2, 1, 1)


def torch_params_to_jlstm(module, num_layers, bidirectional, bias, proj_size):
    """A stack tuple read from `torch.nn.LSTM` weights (`*_l{k}`, `*_l{k}_reverse`)."""
    weights = {name: np.asarray(p.detach()) for name, p in module.named_parameters()}

    def layer(suffix):
        return LSTMParams(
            jnp.asarray(weights[f"weight_ih_l{suffix}"]),
            jnp.asarray(weights[f"weight_hh_l{suffix}"]),
            jnp.asarray(weights[f"bias_ih_l{suffix}"] + weights[f"bias_hh_l{suffix}"])
            if bias
            else None,
            jnp.asarray(weights[f"weight_hr_l{suffix}"]) if proj_size else None,
        )

    if bidirectional:
        return tuple(Bidirectional(layer(k), layer(f"{k}_reverse")) for k in range(num_layers))
    return tuple(layer(k) for k in range(num_layers))


def torch_states_to_jlstm(h0, c0, params):
    """Split PyTorch's `(num_layers * num_directions, batch, size)` states into layer states."""
    states, index = [], 0
    for layer in params:
        per_direction = []
        for _ in directions(layer):
            per_direction.append(LSTMState(jnp.asarray(h0[index]), jnp.asarray(c0[index])))
            index += 1
        is_bidirectional = isinstance(layer, Bidirectional)
        states.append(Bidirectional(*per_direction) if is_bidirectional else per_direction[0])
    return tuple(states)


def stacked_states(states):
    """The `LSTMState` of each direction of each layer, in PyTorch's order."""
    return [state for layer in states for state in directions(layer)]


def stacked_final_states(states):
    """jlstm final states in PyTorch's `h_n`, `c_n` layout."""
    flat = stacked_states(states)
    return jnp.stack([s.h for s in flat]), jnp.stack([s.c for s in flat])


# A pairwise-covering subset of num_layers {1, 2, 3} x bidirectional x proj_size x bias x
# lengths x initial state (48 x 2 cases in full): every pair of values of any two options
# occurs in some case, plus the case with everything on. Each case compiles its own program.
PARITY_CASES = [
    # num_layers, bidirectional, proj_size, bias, lengths, initial_state
    (1, False, False, False, False, False),
    (1, True, True, True, True, True),
    (2, False, False, True, True, True),
    (2, True, True, False, False, False),
    (3, False, True, False, True, True),
    (3, True, False, True, False, False),
    (3, False, True, True, False, True),
    (3, True, False, False, True, False),
    (3, True, True, True, True, True),
]


def case_id(num_layers, *options):
    names = ("bi", "proj", "bias", "packed", "h0")
    return "-".join([f"L{num_layers}"] + [n for n, on in zip(names, options, strict=True) if on])


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize(
    "num_layers, bidirectional, proj, bias, packed, initial_state",
    PARITY_CASES,
    ids=[case_id(*case) for case in PARITY_CASES],
)
def test_matches_torch_lstm(num_layers, bidirectional, proj, bias, packed, initial_state):
    torch = pytest.importorskip("torch")
    proj_size = PROJ if proj else 0
    out_size, directions_count = proj_size or HIDDEN, 1 + bidirectional
    module = torch.nn.LSTM(
        INPUT,
        HIDDEN,
        num_layers=num_layers,
        bias=bias,
        batch_first=True,
        bidirectional=bidirectional,
        proj_size=proj_size,
    )
    rng = np.random.default_rng(num_layers)
    with torch.no_grad():
        for p in module.parameters():  # uniform(-0.5, 0.5): larger than torch's default
            p.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, p.shape).astype(np.float32)))
    xs = 2 * rng.uniform(-1, 1, (BATCH, TIME, INPUT)).astype(np.float32)
    stacked = num_layers * directions_count
    h0 = rng.uniform(-0.5, 0.5, (stacked, BATCH, out_size)).astype(np.float32)
    c0 = rng.uniform(-0.5, 0.5, (stacked, BATCH, HIDDEN)).astype(np.float32)
    cot_ys = rng.uniform(-1, 1, (BATCH, TIME, directions_count * out_size)).astype(np.float32)
    cot_h, cot_c = rng.uniform(-1, 1, h0.shape), rng.uniform(-1, 1, c0.shape)
    cot_h, cot_c = cot_h.astype(np.float32), cot_c.astype(np.float32)

    xs_t = torch.from_numpy(xs).requires_grad_()
    hx = tuple(torch.from_numpy(s).requires_grad_() for s in (h0, c0)) if initial_state else None
    sequence = xs_t
    if packed:
        sequence = torch.nn.utils.rnn.pack_padded_sequence(
            xs_t, list(LENGTHS), batch_first=True, enforce_sorted=False
        )
    ys_t, (h_t, c_t) = module(sequence, hx)
    if packed:
        ys_t, _ = torch.nn.utils.rnn.pad_packed_sequence(ys_t, batch_first=True, total_length=TIME)
    loss_t = sum(
        (a * torch.from_numpy(b)).sum() for a, b in ((ys_t, cot_ys), (h_t, cot_h), (c_t, cot_c))
    )
    loss_t.backward()

    params = torch_params_to_jlstm(module, num_layers, bidirectional, bias, proj_size)
    states = torch_states_to_jlstm(h0, c0, params) if initial_state else None
    lengths = np.asarray(LENGTHS, np.int32) if packed else None

    def loss(params, xs, states):
        finals, ys = jlstm.stack(params, xs, states, lengths=lengths)
        h_n, c_n = stacked_final_states(finals)
        value = jnp.sum(ys * cot_ys) + jnp.sum(h_n * cot_h) + jnp.sum(c_n * cot_c)
        return value, (h_n, c_n, ys)

    grad_fn = jax.jit(jax.grad(loss, argnums=(0, 1, 2), has_aux=True))
    (d_params, d_xs, d_states), (h_n, c_n, ys) = grad_fn(params, jnp.asarray(xs), states)

    check("torch ys", ys, ys_t.detach(), F32)
    check("torch h_n", h_n, h_t.detach(), F32)
    check("torch c_n", c_n, c_t.detach(), F32)
    if packed:
        padded = np.arange(TIME) >= np.asarray(LENGTHS)[:, None]
        assert np.all(np.asarray(ys)[padded] == 0), "outputs at padded steps must be exactly 0"
    check("torch d xs", d_xs, xs_t.grad, GRAD_RTOL, relative=True)
    if initial_state:
        d_h0, d_c0 = stacked_final_states(d_states)
        check("torch d h0", d_h0, hx[0].grad, GRAD_RTOL, relative=True)
        check("torch d c0", d_c0, hx[1].grad, GRAD_RTOL, relative=True)
    for k, layer in enumerate(d_params):
        for direction, grads in zip(("", "_reverse"), directions(layer), strict=False):
            torch_grad = {
                name: np.asarray(p.grad)
                for name, p in module.named_parameters()
                if name.endswith(f"_l{k}{direction}")
            }
            suffix = f"_l{k}{direction}"
            for name in ("weight_ih", "weight_hh", "weight_hr", "bias_ih", "bias_hh"):
                if name + suffix in torch_grad:
                    actual = getattr(grads, "bias" if name.startswith("bias") else name)
                    desired = torch_grad[name + suffix]
                    check(f"torch d {name}{suffix}", actual, desired, GRAD_RTOL, relative=True)


# ---------------------------------------------------------------------------------------------
# init_stack
# ---------------------------------------------------------------------------------------------

KEY = jax.random.key(0)


def init_shapes(*args, **kwargs):
    """The tree of shapes `init_stack` would create, without drawing any numbers."""
    abstract = jax.eval_shape(lambda: jlstm.init_stack(KEY, *args, **kwargs))
    return jax.tree.map(lambda leaf: leaf.shape, abstract)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize(
    "num_layers, bidirectional, proj_size, bias",
    [(1, False, None, True), (3, True, 2, True), (2, False, 2, False), (2, True, None, False)],
)
def test_init_stack_mirrors_torch_layout(num_layers, bidirectional, proj_size, bias):
    torch = pytest.importorskip("torch")
    module = torch.nn.LSTM(
        4, 6, num_layers, bias=bias, bidirectional=bidirectional, proj_size=proj_size or 0
    )
    expected = torch_params_to_jlstm(module, num_layers, bidirectional, bias, proj_size)
    shapes = init_shapes(
        4, 6, num_layers=num_layers, bidirectional=bidirectional, proj_size=proj_size, bias=bias
    )
    assert shapes == jax.tree.map(lambda leaf: leaf.shape, expected)


def test_init_stack_per_layer_sizes():
    params = init_shapes(3, [8, 6, 4], num_layers=3, proj_size=[4, None, 2], bidirectional=True)
    assert len(params) == 3 and all(isinstance(layer, Bidirectional) for layer in params)
    assert [(layer.forward.weight_ih, layer.backward.weight_hh) for layer in params] == [
        ((32, 3), (32, 4)),
        ((24, 8), (24, 6)),
        ((16, 12), (16, 2)),
    ]
    assert params[1].forward.weight_hr is None and params[2].backward.weight_hr == (2, 4)
    assert len(init_shapes(3, 5, num_layers=2, proj_size=[2, 3])) == 2


@pytest.mark.parametrize("merge_mode, width", [("concat", 12), ("sum", 6), ("mean", 6), ("mul", 6)])
def test_init_stack_sizes_inputs_for_the_merge_mode(merge_mode, width):
    params = init_shapes(3, 6, num_layers=3, bidirectional=True, merge_mode=merge_mode)
    assert [layer.forward.weight_ih for layer in params] == [(24, 3), (24, width), (24, width)]
    abstract = jax.eval_shape(
        lambda: jlstm.init_stack(KEY, 3, 6, num_layers=3, bidirectional=True, merge_mode=merge_mode)
    )
    _, ys = jax.eval_shape(
        lambda p: jlstm.stack(p, jnp.zeros((2, 5, 3)), merge_mode=merge_mode), abstract
    )
    assert ys.shape == (2, 5, width)


def test_init_stack_values():
    params = jlstm.init_stack(KEY, 3, 4, num_layers=2, bidirectional=True)
    leaves = [p for layer in params for p in layer]
    expected_bias = np.repeat([0.0, 1.0, 0.0, 0.0], 4)
    for p in leaves:
        np.testing.assert_array_equal(p.bias, expected_bias)
    weights = [np.asarray(p.weight_hh) for p in leaves]  # every layer and direction differs
    assert all(not np.array_equal(a, b) for i, a in enumerate(weights) for b in weights[i + 1 :])
    options = jlstm.init_stack(
        KEY,
        3,
        4,
        num_layers=2,
        bias=False,
        param_dtype=jnp.bfloat16,
        weight_ih_init=jax.nn.initializers.ones,
    )
    assert all(layer.bias is None for layer in options)
    assert {leaf.dtype for leaf in jax.tree.leaves(options)} == {jnp.dtype(jnp.bfloat16)}
    np.testing.assert_array_equal(np.float32(options[1].weight_ih), np.ones((16, 4)))


def test_init_stack_variants_reach_every_layer():
    params = jax.eval_shape(
        lambda: jlstm.init_stack(KEY, 3, 6, num_layers=2, bidirectional=True, peephole=True)
    )
    assert all(p.weight_peephole is not None for layer in params for p in layer)
    _, ys = jax.eval_shape(lambda p: jlstm.stack(p, jnp.zeros((2, 5, 3))), params)
    assert ys.shape == (2, 5, 12)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_layers": 0}, LSTMValueError, r"`num_layers` must be a positive int, got 0"),
        (
            {"hidden_size": [4, 5], "num_layers": 3},
            LSTMValueError,
            r"`hidden_size` must be one size per layer \(num_layers=3\).*got 2 sizes \[4, 5\]",
        ),
        (
            {"hidden_size": [4, 5, 6], "num_layers": 3, "proj_size": [2, 3]},
            LSTMValueError,
            r"`proj_size` must be one size per layer \(num_layers=3\)",
        ),
        ({"hidden_size": [4, 0]}, LSTMValueError, r"`hidden_size\[1\]` must be a positive int"),
        ({"hidden_size": 4.0}, LSTMTypeError, r"`hidden_size` must be a positive int, got 4.0"),
        (
            {"hidden_size": [4, 3], "proj_size": 3},
            LSTMValueError,
            r"`proj_size` must be smaller than the layer's hidden_size, got 3 with "
            r"hidden_size=3 in layer 1",
        ),
        ({"bidirectional": "yes"}, LSTMTypeError, r"`bidirectional` must be a bool, got 'yes'"),
        ({"merge_mode": None}, LSTMValueError, r"`merge_mode` must be one of 'concat'.*got None"),
        ({"input_size": 0}, LSTMValueError, r"`input_size` must be a positive int"),
    ],
)
def test_init_stack_rejects(kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        jlstm.init_stack(KEY, **({"input_size": 3, "hidden_size": 4, "num_layers": 2} | kwargs))
    assert str(info.value).startswith("jlstm.init_stack: ")


# ---------------------------------------------------------------------------------------------
# Mixed stacks against a manual composition of jlstm.lstm calls
# ---------------------------------------------------------------------------------------------


def mixed_stack(dtype=np.float32):
    """Plain and bidirectional layers of different sizes: 3 -> 5 -> (2 + 3) -> 4."""
    return (
        random_layer(10, 3, 5, dtype=dtype),
        Bidirectional(random_layer(11, 5, 4, 2, dtype=dtype), random_layer(12, 5, 3, dtype=dtype)),
        random_layer(13, 5, 4, dtype=dtype),
    )


def mixed_states(batch_shape, dtype=np.float32):
    """Initial states for `mixed_stack`: random, except zeros (None) in two places."""
    params = mixed_stack(dtype)
    return (
        random_state(20, params[0], batch_shape, dtype),
        Bidirectional(None, random_state(22, params[1].backward, batch_shape, dtype)),
        None,
    )


def manual_stack(params, xs, states, lengths=None, merge_mode="concat"):
    """The stack written out with jlstm.lstm: backward directions run with reverse=True."""
    finals = []
    for layer, state in zip(params, states or (None,) * len(params), strict=True):
        if isinstance(layer, Bidirectional):
            forward, backward = state if state is not None else (None, None)
            forward, ys_forward = jlstm.lstm(layer.forward, xs, forward, lengths=lengths)
            backward, ys_backward = jlstm.lstm(
                layer.backward, xs, backward, lengths=lengths, reverse=True
            )
            finals.append(Bidirectional(forward, backward))
            xs = MERGES[merge_mode](ys_forward, ys_backward)
        else:
            state, xs = jlstm.lstm(layer, xs, state, lengths=lengths)
            finals.append(state)
    return tuple(finals), xs


def assert_trees_close(actual, expected, atol=EXACT):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=atol), actual, expected)


def oracle_stack(params, xs, lengths, merge_mode="concat"):
    """The stack on the float64 NumPy oracle; final `(h, c)` per direction in PyTorch's order."""
    finals = []
    for layer in params:
        outputs = []
        for reverse, direction in zip((False, True), directions(layer), strict=False):
            h, c, ys = reference.sequence(direction, xs, lengths=lengths, reverse=reverse)
            finals.append((h, c))
            outputs.append(ys)
        xs = outputs[0] if len(outputs) == 1 else MERGES[merge_mode](*outputs)
    return finals, xs


def test_mixed_stack_equals_manual_composition():
    params, xs = mixed_stack(), jnp.asarray(inputs((4, 7, 3)))
    states, lengths = mixed_states((4,)), np.array([7, 0, 3, 1])
    actual, expected = jax.jit(
        lambda p, x, s: (jlstm.stack(p, x, s, lengths=lengths), manual_stack(p, x, s, lengths))
    )(params, xs, states)
    assert_trees_close(actual, expected)
    assert actual[1].shape == (4, 7, 4)
    padded = np.arange(7) >= lengths[:, None]
    assert np.all(np.asarray(actual[1])[padded] == 0)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mean", "mul"])
def test_stack_matches_oracle(merge_mode):
    if merge_mode == "concat":
        params = mixed_stack()
    else:  # directions of one output size, and the next layer reads it once
        params = (
            Bidirectional(random_layer(0, 3, 4, 3), random_layer(1, 3, 3)),
            random_layer(2, 3, 2),
        )
    xs, lengths = inputs((3, 5, 3)), np.array([5, 2, 0])
    run = jax.jit(lambda p, x: jlstm.stack(p, x, lengths=lengths, merge_mode=merge_mode))
    finals, ys = run(params, xs)
    expected_finals, expected_ys = oracle_stack(params, xs, lengths, merge_mode)
    check("ys", ys, expected_ys, EXACT)
    for (h, c), state in zip(expected_finals, stacked_states(finals), strict=True):
        check("h", state.h, h, EXACT)
        check("c", state.c, c, EXACT)


def test_batch_dims_and_time_major():
    params, xs = mixed_stack(), inputs((2, 3, 5, 3))
    run = jax.jit(
        lambda x, time_major: jlstm.stack(params, x, time_major=time_major), static_argnums=1
    )
    finals, ys = run(xs.reshape(6, 5, 3), False)
    expected = jax.tree.map(lambda leaf: leaf.reshape(2, 3, *leaf.shape[1:]), (finals, ys))
    assert_trees_close(run(xs, False), expected)  # two batch dims
    time_major = run(np.moveaxis(xs, 2, 0), True)
    assert_trees_close((time_major[0], np.moveaxis(time_major[1], 0, 2)), expected)


def test_layer_options_reach_every_layer(monkeypatch):
    calls = []

    def recording_lstm(params, xs, state=None, **options):
        calls.append(options)
        return jlstm.lstm(params, xs, state, **options)

    monkeypatch.setattr("jlstm._layers.stack.lstm", recording_lstm)
    monkeypatch.setattr("jlstm._layers.bidirectional.lstm", recording_lstm)
    xs, lengths = jnp.asarray(inputs((2, 5, 3))), np.array([5, 3])
    options = {"unroll": 2, "remat": True, "dtype": jnp.bfloat16}
    finals, ys = jax.eval_shape(
        lambda: jlstm.stack(mixed_stack(), xs, lengths=lengths, time_major=False, **options)
    )
    assert len(calls) == 4  # one per direction of each layer
    for call in calls:
        assert {name: call[name] for name in options} == options
        assert call["lengths"] is lengths and call["time_major"] is False
    assert [call.get("reverse", False) for call in calls] == [False, False, True, False]
    assert ys.dtype == jnp.bfloat16 and finals[1].backward.c.dtype == jnp.float32


def test_each_layer_and_direction_draws_its_own_noise(monkeypatch):
    recorded = []

    prepare = jlstm._engine.call.prepare

    def recording_prepare(params, xs, state=None, *, key=None, **options):
        recorded.append(jax.random.key_data(key))
        return prepare(params, xs, state, key=key, **options)

    monkeypatch.setattr("jlstm._engine.call.prepare", recording_prepare)
    xs = jnp.asarray(inputs((2, 5, 3)))

    def layer_keys(key):
        recorded.clear()
        jlstm.stack(mixed_stack(), xs, dropout=0.5, key=key, input_dropout=0.5)
        return list(recorded)

    keys = [tuple(np.asarray(k).ravel()) for k in jax.jit(layer_keys)(jax.random.key(0))]
    assert len(keys) == 4 and len(set(keys)) == 4


def test_layer_dropout_needs_the_stack_key():
    params, xs = mixed_stack()[:1], jnp.asarray(inputs((2, 5, 3)))
    run = jax.jit(lambda key: jlstm.stack(params, xs, key=key, input_dropout=0.5)[1])
    plain = jax.jit(lambda: jlstm.stack(params, xs)[1])()
    evaluation = jlstm.stack(params, xs, input_dropout=0.5, deterministic=True)[1]
    np.testing.assert_array_equal(evaluation, plain)
    assert not np.allclose(run(jax.random.key(0)), plain)


def test_check_grads_float64(x64):
    params, states = mixed_stack(np.float64)[1:], mixed_states((3,), np.float64)[1:]
    xs = jnp.asarray(inputs((3, 4, 5), dtype=np.float64))
    lengths, key = np.array([4, 0, 2]), jax.random.key(5)

    def loss(params, xs, states):
        finals, ys = jlstm.stack(params, xs, states, lengths=lengths, dropout=0.3, key=key)
        return jnp.sum(ys**2) + sum(jnp.sum(jnp.sin(leaf)) for leaf in jax.tree.leaves(finals))

    check_grads(jax.jit(loss), (params, xs, states), order=1, modes=("rev",))


def test_vmap_over_batch_equals_batched_call():
    params, xs, lengths = mixed_stack(), jnp.asarray(inputs((4, 6, 3))), jnp.array([6, 0, 3, 1])
    batched = jax.jit(lambda x, n: jlstm.stack(params, x, lengths=n))(xs, lengths)
    mapped = jax.jit(jax.vmap(lambda x, n: jlstm.stack(params, x, lengths=n)))(xs, lengths)
    assert_trees_close(batched, mapped)


# ---------------------------------------------------------------------------------------------
# Dropout between layers
# ---------------------------------------------------------------------------------------------

PROBE_SCALE = 0.25


def probe_layer(features, dtype=np.float64):
    """A layer whose outputs reveal its inputs: only the cell candidate reads x, as s * x.

    All other pre-activations are 0, so i = f = o = 1/2, `c_t = (c_{t-1} + tanh(s x_t)) / 2`
    and `h_t = tanh(c_t) / 2`, which `probe_inputs` inverts.
    """
    zeros = np.zeros((features, features))
    weight_ih = np.concatenate([zeros, zeros, PROBE_SCALE * np.eye(features), zeros])
    weight_hh = np.zeros((4 * features, features))
    return LSTMParams(jnp.asarray(weight_ih, dtype), jnp.asarray(weight_hh, dtype), None)


def probe_inputs(ys):
    c = np.arctanh(2 * np.asarray(ys, np.float64))
    previous = np.concatenate([np.zeros_like(c[..., :1, :]), c[..., :-1, :]], axis=-2)
    return np.arctanh(2 * c - previous) / PROBE_SCALE


def test_probe_layer_reveals_its_inputs(x64):
    xs = inputs((2, 5, 3), dtype=np.float64)
    _, ys = jlstm.lstm(probe_layer(3), jnp.asarray(xs))
    np.testing.assert_allclose(probe_inputs(ys), xs, atol=1e-10)


def test_dropout_between_layers(x64):
    rate = 0.3
    first = random_layer(30, 3, 4, dtype=np.float64)
    xs = jnp.asarray(inputs((64, 50, 3), dtype=np.float64))
    params = (first, probe_layer(4))
    run = jax.jit(jax.vmap(lambda key: jlstm.stack(params, xs, dropout=rate, key=key)[1]))
    runs = run(jax.random.split(jax.random.key(0), 2))
    _, hidden = jax.jit(jlstm.lstm)(first, xs)  # what the first layer passes on
    hidden = np.asarray(hidden)
    seen = probe_inputs(runs[0])  # what the second layer received

    dropped = np.abs(seen) < 1e-9
    kept = np.abs(seen - hidden / (1 - rate)) < 1e-9
    assert np.all(dropped ^ kept), "each element is dropped or scaled by 1 / (1 - rate)"
    n = seen.size
    assert abs(kept.mean() - (1 - rate)) < 4 * np.sqrt(rate * (1 - rate) / n)
    # Inverted dropout keeps the expectation: E[seen] = hidden, checked to 4 standard errors.
    standard_error = np.sqrt(np.sum(hidden**2) * rate / (1 - rate)) / n
    assert abs(np.mean(seen - hidden)) < 4 * standard_error
    # One draw per element, as torch.nn.LSTM(dropout=...): the mask varies along time.
    assert not np.all(kept == kept[:, :1])
    # Another key draws another mask; the same key gives the same result.
    assert not np.array_equal(np.abs(probe_inputs(runs[1])) < 1e-9, dropped)
    single = jax.jit(lambda key: jlstm.stack(params, xs, dropout=rate, key=key)[1])
    np.testing.assert_array_equal(single(jax.random.split(jax.random.key(0), 2)[1]), runs[1])


def test_no_dropout_after_the_last_layer():
    params, xs, lengths = mixed_stack(), inputs((4, 6, 3)), np.array([6, 0, 2, 5])
    key = jax.random.key(1)
    run = jax.jit(lambda p, k: jlstm.stack(p, xs, lengths=lengths, dropout=0.5, key=k))
    one_layer = run(params[:1], key)
    final, ys = jax.jit(lambda p: jlstm.lstm(p, xs, lengths=lengths))(params[0])
    assert_trees_close(one_layer, ((final,), ys), atol=0)
    _, ys = run(params, key)
    valid = np.arange(6) < lengths[:, None]
    assert np.all(np.asarray(ys)[valid] != 0) and np.all(np.asarray(ys)[~valid] == 0)


def test_deterministic_is_evaluation():
    params, xs = mixed_stack(), jnp.asarray(inputs((2, 4, 3)))
    evaluation = jax.jit(lambda: jlstm.stack(params, xs, dropout=0.5, deterministic=True))()
    assert_trees_close(evaluation, jax.jit(lambda: jlstm.stack(params, xs))(), atol=0)


def test_zero_dropout_ignores_the_key():
    params, xs = mixed_stack(), jnp.asarray(inputs((2, 4, 3)))
    with_key = jax.jit(lambda k: jlstm.stack(params, xs, dropout=0.0, key=k))(jax.random.key(0))
    assert_trees_close(with_key, jax.jit(lambda: jlstm.stack(params, xs))(), atol=0)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

MIXED = mixed_stack()
XS = jnp.zeros((2, 5, 3), jnp.float32)


def zeros(layer, batch=(2,)):
    if isinstance(layer, Bidirectional):
        return Bidirectional(*(jlstm.zero_state(p, batch) for p in layer))
    return jlstm.zero_state(layer, batch)


STACK_CASES = [
    (
        "single layer",
        {"params": MIXED[0]},
        LSTMTypeError,
        r"`params` must be a tuple of layers, got LSTMParams. Wrap a single layer in a tuple",
    ),
    ("empty", {"params": ()}, LSTMValueError, r"`params` must be a tuple of at least one layer"),
    (
        "layer type",
        {"params": (MIXED[0], {"weight_ih": 1})},
        LSTMTypeError,
        r"`params\[1\]` must be a layer: an LSTMParams or a Bidirectional.*got dict",
    ),
    (
        "bad leaf",
        {"params": (MIXED[0], MIXED[1], MIXED[2]._replace(bias=jnp.zeros(3)))},
        LSTMValueError,
        r"(?s)`params.bias` must be of shape \(16,\), got shape \(3,\).*in `params\[2\]`",
    ),
    (
        "sizes do not chain",
        {"params": (MIXED[0], random_layer(0, 4, 3))},
        LSTMValueError,
        r"`params\[1\].weight_ih` must be of shape \(4\*hidden_size, 5\) \(the output size of "
        r"params\[0\]\), got shape \(12, 4\)",
    ),
    (
        "concatenated directions",
        {"params": (MIXED[1], random_layer(0, 2, 3))},
        LSTMValueError,
        r"`params\[1\].weight_ih` must be of shape \(4\*hidden_size, 5\) \(the output size of "
        r"params\[0\], both directions concatenated\), got shape \(12, 2\)",
    ),
    (
        "merged directions",
        {
            "params": (Bidirectional(random_layer(0, 3, 2), random_layer(1, 3, 2)), MIXED[0]),
            "merge_mode": "sum",
        },
        LSTMValueError,
        r"`params\[1\].weight_ih` must be of shape \(4\*hidden_size, 2\) \(the output size of "
        r"params\[0\]\), got shape \(20, 3\)",
    ),
    (
        "merge unequal directions",
        {"merge_mode": "mean"},
        LSTMValueError,
        r"`params\[1\]` must be two directions of one output size to merge them with "
        r"merge_mode='mean', got output sizes 2 and 3",
    ),
    (
        "layer dtypes",
        {"params": (MIXED[0], jax.tree.map(lambda w: w.astype(jnp.bfloat16), MIXED[1]))},
        LSTMTypeError,
        r"`params\[1\]` must be of dtype float32 like params\[0\] when no compute `dtype=`",
    ),
    (
        "layer count",
        {"state": (None, None)},
        LSTMValueError,
        r"`state` must be None or a tuple of 3 states, one per layer of `params`, got 2 states",
    ),
    (
        "state not in a tuple",
        {"params": MIXED[:1], "state": zeros(MIXED[0])},
        LSTMTypeError,
        r"`state` must be None or a tuple of 1 states.*got LSTMState. Wrap a single",
    ),
    (
        "bidirectional layer, one-direction state",
        {"state": (None, zeros(MIXED[1].forward), None)},
        LSTMTypeError,
        r"`state\[1\]` must be a Bidirectional\(forward, backward\) of LSTMState, as "
        r"`params\[1\]` is one, got LSTMState",
    ),
    (
        "one-direction layer, bidirectional state",
        {"state": (Bidirectional(zeros(MIXED[0]), zeros(MIXED[0])), None, None)},
        LSTMTypeError,
        r"`state\[0\]` must be an LSTMState, as `params\[0\]` is an LSTMParams \(one "
        r"direction\), got Bidirectional",
    ),
    (
        "state shape in a layer",
        {"state": (None, None, zeros(MIXED[2], (3,)))},
        LSTMValueError,
        r"(?s)jlstm.lstm: `state.h` must be of shape \(2, 4\).*in layer 2 of the stack",
    ),
    (
        "state shape in a direction",
        {"state": (None, Bidirectional(None, zeros(MIXED[1].forward)), None)},
        LSTMValueError,
        r"(?s)jlstm.lstm: `state.h` must be of shape \(2, 3\), got shape \(2, 2\)"
        r".*in the backward direction.*in layer 1 of the stack",
    ),
    (
        "input size",
        {"xs": jnp.zeros((2, 5, 4))},
        LSTMValueError,
        r"(?s)jlstm.lstm: `xs` must be of shape \(\*batch, time, 3\).*in layer 0 of the stack",
    ),
    ("dropout 1", {"dropout": 1.0}, LSTMValueError, r"`dropout` must be in \[0, 1\), got 1.0"),
    ("dropout negative", {"dropout": -0.1}, LSTMValueError, r"`dropout` must be in \[0, 1\)"),
    (
        "dropout array",
        {"dropout": jnp.array(0.5)},
        LSTMTypeError,
        r"`dropout` must be a Python float in \[0, 1\).*cannot be a traced array",
    ),
    ("key type", {"key": jnp.zeros(3)}, LSTMTypeError, r"jlstm.stack: `key` must be one PRNG key"),
    (
        "gate traces",
        {"return_gates": True},
        LSTMTypeError,
        r"`return_gates` must be left out, got True. Trace the gates of one layer",
    ),
    (
        "unknown merge mode",
        {"merge_mode": "max"},
        LSTMValueError,
        r"`merge_mode` must be one of 'concat', 'sum', 'mean', 'mul', got 'max'",
    ),
    (
        "merge mode None",
        {"merge_mode": None},
        LSTMValueError,
        r"`merge_mode` must be one of .*got None. .*jlstm.bidirectional\(..., merge_mode=None\)",
    ),
]


@pytest.mark.parametrize("case, change, error, match", STACK_CASES, ids=[c[0] for c in STACK_CASES])
def test_stack_rejects(case, change, error, match):
    kwargs = {"params": MIXED, "xs": XS} | change
    with pytest.raises(error, match=match):
        jax.eval_shape(lambda: jlstm.stack(**kwargs))
