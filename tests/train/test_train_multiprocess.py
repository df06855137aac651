"""Two processes x 2 devices (`jax.distributed`, loopback) against one process x 4 devices.

One module-scoped launch runs every scenario (tests/support/processes.py): a pair of
processes that also stops after the checkpoint at step 10 and is killed there, the pair that
resumes from it, and the one-process reference. Every child is killed by a timeout.
"""

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from support import processes

from jlstm import train

TESTS = pathlib.Path(__file__).parents[1]
WORKER = TESTS / "support" / "processes.py"
TIMEOUT = 240  # seconds for each launch; a child still running then is killed
pytestmark = pytest.mark.slow  # two launches of fresh interpreters: minutes on 2 cores


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(mode, out, num_processes, devices, log):
    # Most XLA optimisations off: compiling is 3x faster, and both sides of every
    # comparison run with the same setting. The restarted pair reads the programs that the
    # first pair compiled from the cache.
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        JAX_DISABLE_MOST_OPTIMIZATIONS="1",
        JAX_COMPILATION_CACHE_DIR=str(out.parent / "cache"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
    )
    port = free_port()
    return [
        subprocess.Popen(
            [sys.executable, str(WORKER), mode, str(out), str(k), str(num_processes), str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for k in range(num_processes)
    ]


def wait(procs, deadline, log_path):
    for proc in procs:
        proc.wait(timeout=max(deadline - time.monotonic(), 1))
        assert proc.returncode == 0, log_path.read_text()[-3000:]


def wait_for(paths, procs, deadline, log_path):
    while not all(path.exists() for path in paths):
        exited = [proc.returncode for proc in procs if proc.poll() is not None]
        assert not exited, f"exited with {exited}: {log_path.read_text()[-3000:]}"
        assert time.monotonic() < deadline, log_path.read_text()[-3000:]
        time.sleep(0.1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("multiprocess")
    (two := root / "two").mkdir()
    (one := root / "one").mkdir()
    log_path = root / "log.txt"
    procs = []
    with log_path.open("w") as log:
        try:
            deadline = time.monotonic() + TIMEOUT
            pair = launch("scenarios", two, 2, 2, log)
            reference = launch("scenarios", one, 1, 4, log)
            procs += pair + reference
            wait_for([two / f"ready_{k}" for k in range(2)], pair, deadline, log_path)
            print(f"killed after {TIMEOUT - deadline + time.monotonic():.1f} s")
            for proc in pair:  # killed after the checkpoint of step 10, while training on
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
            restarted = launch("restart", two, 2, 2, log)
            procs += restarted
            wait(restarted + reference, deadline, log_path)
            print(f"all done after {TIMEOUT - deadline + time.monotonic():.1f} s")
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
    results = {
        name: [dict(np.load(two / f"{name}_{k}.npz")) for k in range(2)]
        for name in ("scenarios", "restart")
    }
    errors = [json.loads((two / f"scenarios_{k}.json").read_text()) for k in range(2)]
    reference = dict(np.load(one / "scenarios_0.npz"))
    reference["long_losses"] = np.load(one / "long_losses.npy")
    return {"two": results, "one": reference, "errors": errors, "root": two}


def relative(actual, desired):
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    return float(np.max(np.abs(actual - desired)) / max(np.max(np.abs(desired)), 1e-30))


def compare(results, reference, prefix, tol=1e-6):
    """Both processes hold the same values, within `tol` (relative) of the reference."""
    first, second = results
    names = [name for name in reference if name.startswith(prefix)]
    assert names
    worst = 0.0
    for name in names:
        np.testing.assert_array_equal(first[name], second[name])
        worst = max(worst, relative(first[name], reference[name]))
    print(f"{prefix}: max relative difference to 1 process x 4 devices {worst:.2e}")
    assert worst <= tol


@pytest.mark.parametrize("prefix", ["fit", "tbptt", "ensemble", "evaluate_grid"])
def test_two_processes_equal_one_process(runs, prefix):
    compare(runs["two"]["scenarios"], runs["one"], prefix)


def test_four_devices_equal_one_device(runs):
    one = runs["one"]
    assert one["replicated"] and all(result["replicated"] for result in runs["two"]["scenarios"])
    worst = max(
        relative(one[name], one["alone" + name[3:]]) for name in one if name.startswith("fit")
    )
    print(f"1 process x 4 devices vs 1 device: max relative difference {worst:.2e}")
    assert worst <= 1e-6


def test_sharded_evaluation_equals_unsharded(runs):
    one = runs["one"]
    for name in ("['hits']", "['loss']"):
        np.testing.assert_allclose(
            one["evaluate_grid" + name], one["evaluate_unsharded" + name], rtol=1e-6
        )


def test_many_queued_steps_on_four_devices(runs):
    losses = runs["one"]["long_losses"]
    assert losses.shape == (200,) and np.all(np.isfinite(losses))


def test_fit_keeps_the_callers_state(runs):
    assert runs["one"]["kept"] and all(result["kept"] for result in runs["two"]["scenarios"])


def test_checkpoint_of_two_processes_restores_in_one(runs):
    written = runs["two"]["scenarios"][0]
    restored = train.restore_checkpoint(runs["root"] / "fit", processes.fresh_state())
    paths = jax.tree_util.tree_flatten_with_path(processes.host(restored))[0]
    assert int(restored.step) == 12
    for path, leaf in paths:
        np.testing.assert_array_equal(leaf, written["fit" + jax.tree_util.keystr(path)])


def test_restart_after_kill_equals_uninterrupted_run(runs):
    full, restart = runs["two"]["scenarios"], runs["two"]["restart"]
    assert int(restart[0]["resumed_from"]) == 10
    for k in range(2):
        np.testing.assert_array_equal(restart[k]["restart_losses"], full[k]["full_losses"][10:])
        for name in full[k]:
            if name.startswith("full["):
                np.testing.assert_array_equal(restart[k]["restart" + name[4:]], full[k][name])


ERRORS = {
    "indivisible": r"LSTMValueError: .*shard_batch: `batch` must be arrays whose leading axis "
    r"divides among 2 local devices, got shape \(3, 2\).*global batch",
    "count_list": r"LSTMValueError: .*fit: `batches` must be the same number of batches on "
    r"every process, got [34] batches on process [01] of 2.*num_steps",
    "count_generator": r"LSTMValueError: .*fit: `batches` must be the same number of batches "
    r"on every process, got (2|more than 2) batches on process [01] of 2",
    "shapes": r"LSTMValueError: .*fit: `batches` must be batches of the same structure and "
    r"shapes on every process, got shapes \[\([42], 6, 3\)",
    "members": r'LSTMValueError: .*init_ensemble: `mesh` must be a "member" axis whose size '
    r"divides the 3 members, got size 4",
    "local_mesh": r"LSTMValueError: .*fit: `mesh` must be a mesh over the devices of all 2 "
    r"processes, got a mesh over the devices of process \[[01]\].*jax.distributed.initialize",
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_raise_on_every_process(runs, case):
    for found in runs["errors"]:
        assert found[case] is not None, case
        assert re.match(ERRORS[case], found[case]), found[case]
