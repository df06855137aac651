"""What the bad-input cases share: the `Case` record, small valid arguments, call builders."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jlstm
from jlstm import Bidirectional, LSTMState, LSTMTypeError, LSTMValueError
from support.factories import random_layer


class Case(NamedTuple):
    """One bad call: the function and argument the message names, the error and a pattern."""

    name: str
    fn: str
    arg: str
    kind: type[Exception]
    match: str  # a further pattern of the message or its notes (expected, actual, hint, where)
    call: Callable[[], Any]


def zeros(shape, dtype=jnp.float32) -> jax.Array:
    """A JAX array of zeros, put on the device from NumPy: nothing is compiled."""
    return jax.device_put(np.zeros(shape, dtype))


def ones(shape, dtype=jnp.float32) -> jax.Array:
    return jax.device_put(np.ones(shape, dtype))


def cast(array, dtype) -> jax.Array:
    return jax.device_put(np.asarray(array).astype(dtype))


# Params of the shapes `jlstm.init_lstm` and `jlstm.init_stack` give, drawn without compiling.
KEY = jax.random.key(0)
PARAMS = random_layer(0, 3, 4)  # input_size 3, hidden_size 4
PROJ = random_layer(1, 3, 4, 2)
PAIR = Bidirectional(PARAMS, random_layer(2, 3, 4))
STACK = (PAIR, Bidirectional(random_layer(3, 8, 4), random_layer(4, 8, 4)))
XS = zeros((2, 5, 3), jnp.float32)  # (batch, time, input_size)


def state(batch=(2,), dtype=jnp.float32) -> LSTMState:
    return LSTMState(zeros((*batch, 4), dtype), zeros((*batch, 4), dtype))


def lstm(**change: Any) -> Callable[[], Any]:
    return lambda: jlstm.lstm(**({"params": PARAMS, "xs": XS} | change))


def cell(**change: Any) -> Callable[[], Any]:
    kwargs = {"params": PARAMS, "state": state(), "x": zeros((2, 3))} | change
    return lambda: jlstm.lstm_cell(**kwargs)


def flax_lstm(**attributes: Any) -> Any:
    return importlib.import_module("jlstm.flax").LSTM(**attributes)


def traced(call: Callable[[], Any]) -> Callable[[], Any]:
    """`call` traced by `jax.jit`: nothing before the bad argument is computed, even eagerly."""
    return lambda: jax.jit(call)()


def flax_apply(num_layers: int = 1, xs: Any = XS, **call: Any) -> Callable[[], Any]:
    def run() -> Any:
        model = flax_lstm(features=4, num_layers=num_layers)
        return model.apply(model.init(KEY, XS), xs, **call)

    return traced(run)


def nnx_rngs(*seed: int, **streams: int) -> Any:
    return importlib.import_module("flax.nnx").Rngs(*seed, **streams)


def nnx_lstm(**options: Any) -> Any:
    options.setdefault("rngs", nnx_rngs(0))
    return importlib.import_module("jlstm.flax").NNXLSTM(3, 4, **options)


class Tensor:
    """Stands for a `torch.Tensor`: jlstm tells one by its module, without importing torch."""

    __module__ = "torch"
    shape, dtype = (2, 5, 3), "torch.float32"


CARRY = (zeros((2, 4)), ones((2, 4)))  # a Flax carry (c, h), of one shape
BARE = r"got (tuple|list)\. .*Flax carry is \(c, h\).*LSTMState\(h=carry\[1\], c=carry\[0\]\)"
UNI_STACK = (PARAMS, random_layer(5, 4, 4))

V, T = LSTMValueError, LSTMTypeError
