"""`jlstm.convert`'s errors as a whole; each bad call is a case of `support.bad_inputs.convert`.

The registry checks every case alone (`tests/test_bad_inputs.py`); here: that it covers every
converter and that one kind of mistake raises one kind of error in every format.
"""

import jax
import numpy as np
import pytest
from support.convert import EquinoxLikeCell, random_params, zeros

import jlstm
from jlstm import convert

CELL = EquinoxLikeCell(zeros(8, 3), zeros(8, 2), zeros(8))
# Every export, each called with params in place of jlstm's.
EXPORTS = {
    "to_torch": convert.to_torch,
    "to_torch(cell=True)": lambda params: convert.to_torch(params, cell=True),
    "to_keras": convert.to_keras,
    "to_flax": convert.to_flax,
    "to_equinox": lambda params: convert.to_equinox(params, CELL),
    "to_cudnn": convert.to_cudnn,
}
ONE_CELL = ("to_torch(cell=True)", "to_flax", "to_equinox")


@pytest.mark.slow  # importing the registry builds every area's cases
def test_every_converter_has_bad_input_cases():
    from support.bad_inputs.convert import CASES

    assert {f"convert.{name}" for name in convert.__all__} <= {case.fn for case in CASES}


@pytest.mark.parametrize(
    ("mistake", "params", "kind", "match", "exports"),
    [
        pytest.param(
            "projection",
            random_params(0, 3, 2, 1),
            jlstm.LSTMValueError,
            r"`params\.weight_hr` must be None \(.* has no projection\)",
            [name for name in EXPORTS if name != "to_torch"],
            id="projection",
        ),
        pytest.param(
            "stack for one cell",
            (random_params(0, 3, 2),),
            jlstm.LSTMTypeError,
            r"`params` must be an LSTMParams, got tuple\. .* holds one layer\.",
            ONE_CELL,
            id="stack-for-one-cell",
        ),
        pytest.param(
            "variant",
            random_params(0, 3, 2)._replace(weight_peephole=zeros(3, 2)),
            jlstm.LSTMValueError,
            r"`params\.weight_peephole` must be None \(the plain LSTM",
            list(EXPORTS),
            id="variant",
        ),
        pytest.param(
            "integer weights",
            random_params(0, 3, 2)._replace(weight_hh=np.zeros((8, 2), np.int32)),
            jlstm.LSTMTypeError,
            r"`params\.weight_hh` must be a real floating-point array, got dtype int32",
            list(EXPORTS),
            id="integer-weights",
        ),
    ],
)
def test_one_kind_of_error_per_kind_of_mistake(mistake, params, kind, match, exports):
    for name in exports:
        with pytest.raises(kind, match=match):
            EXPORTS[name](params)


def test_foreign_integer_weights_are_type_errors_in_every_format():
    ints = np.zeros((8, 2), np.int32)
    calls = [
        lambda: convert.from_torch({"weight_ih": zeros(8, 3), "weight_hh": ints}),
        lambda: convert.from_keras([zeros(3, 8), ints.T]),
        lambda: convert.from_equinox(CELL._replace(weight_hh=ints)),
        lambda: convert.from_cudnn(np.zeros(56, np.int32), 3, 2),
    ]
    for call in calls:
        with pytest.raises(jlstm.LSTMTypeError, match=r"floating-point array, got dtype int32"):
            call()


def test_converters_run_eagerly_and_say_so_under_jit():
    params = random_params(0, 3, 2)
    with pytest.raises(jlstm.LSTMTypeError, match=r"an array that NumPy can read, got .*Tracer"):
        jax.jit(convert.to_torch)(params)
