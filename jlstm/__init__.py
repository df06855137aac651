"""jlstm: a functional LSTM for JAX.

Parameters and state are NamedTuples of arrays; the cell and the sequence runner are pure
functions that compose with `jax.jit`, `jax.grad` and `jax.vmap`.
"""

from jlstm._cell import lstm_cell
from jlstm._engine.scan import scan
from jlstm._errors import LSTMError, LSTMTypeError, LSTMValueError
from jlstm._init import init_lstm, zero_state
from jlstm._init_stack import init_stack
from jlstm._layers.bidirectional import bidirectional
from jlstm._layers.lstm import lstm
from jlstm._layers.stack import stack
from jlstm._types import Bidirectional, LayerNorm, LSTMParams, LSTMState
from jlstm._validation.runtime import checked
from jlstm._variants import GateTrace

__version__ = "0.1.0"

__all__ = [
    "Bidirectional",
    "GateTrace",
    "LSTMError",
    "LSTMParams",
    "LSTMState",
    "LSTMTypeError",
    "LSTMValueError",
    "LayerNorm",
    "bidirectional",
    "checked",
    "init_lstm",
    "init_stack",
    "lstm",
    "lstm_cell",
    "scan",
    "stack",
    "zero_state",
]
