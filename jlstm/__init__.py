"""jlstm: a functional LSTM for JAX.

Parameters and state are NamedTuples of arrays; the cell and the sequence runner are pure
functions that compose with `jax.jit`, `jax.grad` and `jax.vmap`.
"""

from jlstm._cell import lstm_cell
from jlstm._errors import LSTMError, LSTMTypeError, LSTMValueError
from jlstm._params import Bidirectional, LSTMParams, LSTMState, init_lstm, zero_state
from jlstm._sequence import lstm

__version__ = "0.1.0"

__all__ = [
    "Bidirectional",
    "LSTMError",
    "LSTMParams",
    "LSTMState",
    "LSTMTypeError",
    "LSTMValueError",
    "init_lstm",
    "lstm",
    "lstm_cell",
    "zero_state",
]
