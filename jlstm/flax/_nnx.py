"""`jlstm.flax.NNXLSTM`: a Flax NNX module over the functional API and its params."""

from __future__ import annotations

import types
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jlstm._errors import shape_str
from jlstm._init import GLOROT_UNIFORM, ORTHOGONAL, Initializer
from jlstm._public import public
from jlstm._validation import modules as check
from jlstm._validation import size
from jlstm.flax import _layer as layer

__all__ = ["NNXLSTM"]

FN = "flax.NNXLSTM"


def _is_variable(value: Any) -> bool:
    return isinstance(value, nnx.Variable)


def _shapes(tree: Any) -> Any:
    def describe(leaf: Any) -> str:
        if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
            return f"{shape_str(leaf.shape)} {leaf.dtype}"
        return type(leaf).__name__

    return jax.tree.map(describe, tree)


def _key(rngs: nnx.Rngs | nnx.RngStream | jax.Array) -> jax.Array:
    if isinstance(rngs, nnx.Rngs):
        return rngs["dropout"]()
    if isinstance(rngs, nnx.RngStream):
        return rngs()
    check.rngs(FN, rngs, isinstance(rngs, jax.Array), "an nnx.Rngs, an nnx.RngStream or a PRNG key")
    return rngs


@public("jlstm.flax")
class NNXLSTM(nnx.Module):
    """An LSTM layer or stack as an NNX module; its params are the jlstm pytree.

    `model.lstm` is the pytree that `jlstm.init_lstm` / `jlstm.init_stack` build, an
    `LSTMParams` (one layer), a `Bidirectional` or a stack tuple (`num_layers > 1`), with
    each array held in an `nnx.Param`, so `nnx.state(model)` reads `lstm/weight_ih`,
    `lstm/0/forward/bias`, ... and `nnx.Optimizer` updates every array. `model.params` is
    the same pytree of plain arrays: `jlstm.lstm(model.params, xs)` gives the module's
    outputs bit for bit. `model.load(params)` writes params of the same shapes into the
    module (e.g. from `jlstm.convert.from_torch`).

    Options, result and `initial_state` are those of the linen `jlstm.flax.LSTM` (see
    there). Following `nnx.Dropout`, `deterministic` defaults to False (training),
    `model.eval()` / `model.train()` switch it, and masks are drawn from the "dropout"
    stream of the `rngs` given to the constructor (or to the call).

    Args:
      in_features: features per input step of the first layer.
      features: hidden size of each layer (size of `c`).
      num_layers, bidirectional, proj_size, bias, merge_mode, dropout, input_dropout,
        recurrent_dropout, time_major, return_sequences, return_state, forget_bias,
        weight_ih_init, weight_hh_init, weight_hr_init, bias_init, param_dtype, dtype,
        unroll, remat, checks: as in `jlstm.flax.LSTM`.
      deterministic: whether dropout is off.
      rngs: an `nnx.Rngs`, e.g. `nnx.Rngs(0)`: the "params" stream draws the params;
        the "dropout" stream (else the default one), forked, draws the dropout masks.

    Example:
      >>> import jax.numpy as jnp, jlstm
      >>> from flax import nnx
      >>> from jlstm.flax import NNXLSTM
      >>> model = NNXLSTM(4, 2, return_sequences=False, return_state=True, rngs=nnx.Rngs(0))
      >>> xs = jnp.ones((3, 5, 4))  # (batch, time, features)
      >>> last_output, h, c = model(xs)
      >>> last_output.shape, model.lstm.weight_ih.shape
      ((3, 2), (8, 4))
      >>> _, ys = jlstm.lstm(model.params, xs)
      >>> bool(jnp.all(ys[:, -1] == last_output))
      True
    """

    def __init__(
        self,
        in_features: int,
        features: int,
        *,
        num_layers: int = 1,
        bidirectional: bool = False,
        proj_size: int | None = None,
        bias: bool = True,
        merge_mode: str = "concat",
        dropout: float = 0.0,
        input_dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        time_major: bool = False,
        return_sequences: bool = True,
        return_state: bool = False,
        deterministic: bool = False,
        forget_bias: float = 1.0,
        weight_ih_init: Initializer = GLOROT_UNIFORM,
        weight_hh_init: Initializer = ORTHOGONAL,
        weight_hr_init: Initializer = GLOROT_UNIFORM,
        bias_init: Initializer = jax.nn.initializers.zeros,
        param_dtype: Any = jnp.float32,
        dtype: Any = None,
        unroll: int | bool = 1,
        remat: bool = False,
        checks: bool = False,
        rngs: nnx.Rngs,
    ) -> None:
        options = types.SimpleNamespace(
            features=features,
            num_layers=num_layers,
            bidirectional=bidirectional,
            proj_size=proj_size,
            bias=bias,
            merge_mode=merge_mode,
            dropout=dropout,
            input_dropout=input_dropout,
            recurrent_dropout=recurrent_dropout,
            time_major=time_major,
            return_sequences=return_sequences,
            return_state=return_state,
            forget_bias=forget_bias,
            weight_ih_init=weight_ih_init,
            weight_hh_init=weight_hh_init,
            weight_hr_init=weight_hr_init,
            bias_init=bias_init,
            param_dtype=param_dtype,
            dtype=dtype,
            unroll=unroll,
            remat=remat,
            checks=checks,
        )
        size(FN, "in_features", in_features)
        check.options(FN, options)
        check.rngs(
            FN,
            rngs,
            isinstance(rngs, nnx.Rngs),
            "an nnx.Rngs",
            "Pass rngs=nnx.Rngs(0) (or nnx.Rngs(params=0, dropout=1)).",
        )
        # What a call reads; the sizes and initialisers live on in the params.
        self.merge_mode = merge_mode
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.recurrent_dropout = recurrent_dropout
        self.time_major = time_major
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.deterministic = deterministic
        self.dtype = dtype
        self.unroll = unroll
        self.remat = remat
        self.checks = checks
        params = layer.init_params(options, rngs.params(), in_features)
        self.lstm = nnx.data(jax.tree.map(nnx.Param, params))
        try:
            self.rngs = rngs["dropout"].fork() if layer.noisy(options) else nnx.data(None)
        except KeyError:  # no dropout stream: the call must bring one
            self.rngs = nnx.data(None)

    @property
    def params(self) -> layer.Params:
        """The params as a jlstm pytree of arrays, ready for the functional API."""
        return jax.tree.map(lambda variable: variable[...], self.lstm, is_leaf=_is_variable)

    def load(self, params: layer.Params) -> None:
        """Write `params` (a jlstm pytree of the same structure, shapes and dtypes) into it.

        Raises:
          LSTMTypeError: if the structure of `params` or the dtype of a leaf differs.
          LSTMValueError: if the shape of a leaf differs.
        """
        check.same_tree(FN + ".load", "params", params, self.params, _shapes)
        variables = jax.tree.leaves(self.lstm, is_leaf=_is_variable)
        for variable, value in zip(variables, jax.tree.leaves(params), strict=True):
            variable.set_value(jnp.asarray(value))

    def set_view(self, deterministic: bool | None = None) -> None:
        """Switch dropout off (True) or on (False); used by `nnx.view`."""
        if deterministic is not None:
            self.deterministic = deterministic

    def __call__(
        self,
        xs: jax.Array,
        *,
        initial_state: Any = None,
        lengths: jax.Array | None = None,
        mask: jax.Array | None = None,
        deterministic: bool | None = None,
        rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None,
    ) -> jax.Array | tuple[jax.Array, ...]:
        """Run the layers over `xs`.

        Args:
          xs: inputs `(*batch, time, in_features)`, or `(time, *batch, in_features)` with
            `time_major`.
          initial_state: as in `jlstm.flax.LSTM`: the functional API's state (an
            `LSTMState`, a `Bidirectional` of them, or a tuple per layer); None for zeros.
            A bare tuple or list, such as a Flax carry `(c, h)`, raises.
          lengths: `(*batch,)` integers marking right-padded sequences (see `jlstm.lstm`).
          mask: `(*batch, time)` booleans (`(time, *batch)` with `time_major`), Keras'
            mask: a step where it is False carries the state and repeats the previous
            output (see `jlstm.lstm`); every layer and direction reads it.
          deterministic: overrides the attribute of that name.
          rngs: draws the dropout masks instead of the module's own stream.

        Returns:
          The output, or a tuple of it and the final states; see `jlstm.flax.LSTM`.
        """
        key = None
        if layer.noisy(self) and not check.deterministic(FN, self.deterministic, deterministic):
            source = self.rngs if rngs is None else rngs
            check.dropout_rng(
                FN,
                source is not None,
                "a dropout rng when deterministic is False",
                'None, and the module has no "dropout" stream',
                "Pass rngs=nnx.Rngs(dropout=...) to the constructor or the call, "
                "or call model.eval().",
            )
            key = _key(source)
        return layer.call(
            FN,
            self,
            self.params,
            xs,
            initial_state,
            lengths=lengths,
            mask=mask,
            key=key,
            run_checks=self.checks,
        )
