"""Data parallelism helpers on one device; the sharded runs are in test_train_multiprocess.py."""

import argparse
import importlib.util
import json
import pathlib

import jax
import numpy as np
import pytest

from jlstm import train

SCALING = pathlib.Path(__file__).parents[2] / "experiments" / "scaling.py"


@pytest.mark.slow
def test_scaling_experiment_worker(capsys):
    spec = importlib.util.spec_from_file_location("scaling", SCALING)
    scaling = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scaling)
    scaling.worker(0, 1, 0, argparse.Namespace(steps=5, batch=4, hidden=4))
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(result["losses"]) == 5 and np.all(np.isfinite(result["losses"]))
    assert result["steps_per_second"] > 0


def test_one_device_mesh_helpers():
    mesh = train.data_mesh()
    assert train.data_mesh(jax.devices(), axis_name="member").axis_names == ("member",)
    params = train.replicate({"w": np.ones((2, 3), np.float32)}, mesh)
    assert params["w"].sharding.is_fully_replicated
    batch = train.shard_batch((np.zeros((4, 5), np.float32), np.arange(4)), mesh)
    assert batch[0].shape == (4, 5) and batch[1].tolist() == [0, 1, 2, 3]
    assert train.shard_batch(batch, mesh)[0] is batch[0]  # already placed: left as is
