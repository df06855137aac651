"""jlstm's Flax modules built for tests, by kind: the linen `LSTM` and the `NNXLSTM`."""

from __future__ import annotations

import jax
from flax import nnx

from jlstm import flax as jflax
from support.layers import run

FEATURES = 3  # every module's `features` (hidden size)
# Dropout between two layers and variational dropout inside them.
NOISE = {"num_layers": 2, "dropout": 0.3, "input_dropout": 0.2, "recurrent_dropout": 0.25}


def build(kind, xs, **options):
    """A module of `kind` for inputs like `xs`: `(jlstm params, jitted call)`.

    The jitted call takes the params as an argument, as the functional runs the tests
    compare with do, so that both compile the same computation.
    """
    if kind == "linen":
        model = jflax.LSTM(features=FEATURES, **options)
        variables = jax.jit(model.init)(jax.random.key(0), xs)
        apply = jax.jit(model.apply)
        return variables["params"]["lstm"], lambda *args, **kw: apply(variables, *args, **kw)
    model = jflax.NNXLSTM(xs.shape[-1], FEATURES, rngs=nnx.Rngs(0), **options)
    call = nnx.jit(lambda model, *args, **kw: model(*args, **kw))
    return model.params, lambda *args, **kw: call(model, *args, **kw)


def pure(kind, xs, **options):
    """A module of `kind` as `(jlstm params, a pure function of the inputs)`, for transforms."""
    if kind == "linen":
        model = jflax.LSTM(features=FEATURES, **options)
        variables = model.init(jax.random.key(0), xs)
        return variables["params"]["lstm"], lambda x: model.apply(variables, x)
    model = jflax.NNXLSTM(xs.shape[-1], FEATURES, rngs=nnx.Rngs(0), **options)
    graphdef, state = nnx.split(model)
    return model.params, lambda x: nnx.merge(graphdef, state)(x)


# The functional API's run of a module's params, as the modules dispatch it.
functional = jax.jit(run, static_argnames=("merge_mode", "time_major"))
