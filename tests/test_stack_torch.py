"""`stack` and `init_stack` against `torch.nn.LSTM(num_layers, bidirectional, proj_size)`.

Run with `-s` to see the largest errors observed against PyTorch.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.assertions import check
from support.layers import directions, flat_states

import jlstm
from jlstm import Bidirectional, LSTMParams, LSTMState

# PyTorch warns once that its oneDNN kernel lacks projections; its fallback is what we compare.
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")

F32 = 1e-5  # abs tolerance of float32 values against PyTorch
GRAD_RTOL = 1e-4  # gradient tolerance, relative to the largest entry of the reference
BATCH, TIME, INPUT, HIDDEN, PROJ = 6, 7, 3, 5, 2
KEY = jax.random.key(0)
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


def stacked_final_states(states):
    """jlstm final states in PyTorch's `h_n`, `c_n` layout."""
    flat = flat_states(states)
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


@pytest.mark.slow
@pytest.mark.parametrize(
    "num_layers, bidirectional, proj, bias, packed, initial_state",
    PARITY_CASES,
    ids=[case_id(*case) for case in PARITY_CASES],
)
def test_matches_torch_lstm(torch, num_layers, bidirectional, proj, bias, packed, initial_state):
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


@pytest.mark.slow
@pytest.mark.parametrize(
    "num_layers, bidirectional, proj_size, bias",
    [(1, False, None, True), (3, True, 2, True), (2, False, 2, False), (2, True, None, False)],
)
def test_init_stack_mirrors_torch_layout(torch, num_layers, bidirectional, proj_size, bias):
    module = torch.nn.LSTM(
        4, 6, num_layers, bias=bias, bidirectional=bidirectional, proj_size=proj_size or 0
    )
    expected = torch_params_to_jlstm(module, num_layers, bidirectional, bias, proj_size)
    options = {"bidirectional": bidirectional, "proj_size": proj_size, "bias": bias}
    abstract = jax.eval_shape(lambda: jlstm.init_stack(KEY, 4, 6, num_layers=num_layers, **options))
    assert jax.tree.map(jnp.shape, abstract) == jax.tree.map(jnp.shape, expected)
