"""Steps per second of data-parallel `fit` on 1, 2, 4 devices and on 2 processes x 2 devices.

Each setting runs in fresh interpreters (JAX fixes the device count when it starts) on
forced host CPU devices (`--xla_force_host_platform_device_count`). They share the
machine's cores, so the table shows that the runs agree and what the overhead is, not a
speed-up. The two-process setting is the launch recipe of docs/training.md: one command per
process, the coordinator on 127.0.0.1, CPU collectives over gloo.

Run: python experiments/scaling.py [--steps S] [--batch B] [--hidden H]
One process of a run: python experiments/scaling.py --worker ID PROCESSES PORT (the
device count comes from XLA_FLAGS).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import optax

import jlstm
from jlstm import train

SETTINGS = [(1, 1), (1, 2), (1, 4), (2, 2)]  # (processes, devices per process)
TIME, INPUT, CLASSES = 32, 16, 10
TIMEOUT = 300  # seconds per setting; its processes are killed after that


def worker(process_id: int, num_processes: int, port: int, args: argparse.Namespace) -> None:
    """Train one setting's process; process 0 prints its measurements as one JSON line."""
    if num_processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU only
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{port}",
            num_processes=num_processes,
            process_id=process_id,
        )

    def loss_fn(params, batch, key):
        xs, labels = batch  # (batch, time, INPUT), (batch, time)
        _, hs = jlstm.lstm(params["lstm"], xs)
        return train.sequence_cross_entropy(hs @ params["out"], labels), None

    key_lstm, key_out = jax.random.split(jax.random.key(0))
    params = {
        "lstm": jlstm.init_lstm(key_lstm, INPUT, args.hidden),
        "out": 0.1 * jax.random.normal(key_out, (args.hidden, CLASSES)),
    }
    optimizer = optax.adam(1e-3)
    state = train.init_train_state(params, optimizer, key=jax.random.key(1))
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(args.batch, TIME, INPUT)).astype(np.float32)
    labels = rng.integers(0, CLASSES, (args.batch, TIME)).astype(np.int32)
    rows = args.batch // jax.process_count()  # this process's part of the global batch
    part = slice(process_id * rows, (process_id + 1) * rows)
    local = (xs[part], labels[part])
    step = train.make_train_step(loss_fn, optimizer)
    _, history = train.fit(step, state, [local] * args.steps, mesh=train.data_mesh())
    if jax.process_index() == 0:
        result = {"steps_per_second": history.steps_per_second, "losses": history.losses.tolist()}
        print(json.dumps(result))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_setting(processes: int, devices: int, args: argparse.Namespace) -> dict:
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
    )
    port = str(free_port())
    command = [sys.executable, __file__, "--steps", str(args.steps), "--batch", str(args.batch)]
    command += ["--hidden", str(args.hidden), "--worker"]
    procs = [
        subprocess.Popen(
            [*command, str(k), str(processes), port],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(processes)
    ]
    try:
        outputs = [proc.communicate(timeout=TIMEOUT) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if any(proc.returncode for proc in procs):
        errors = [err[-2000:] for _, err in outputs]
        raise RuntimeError(f"setting {processes} x {devices} failed: {errors}")
    return json.loads(outputs[0][0].strip().splitlines()[-1])


def main(steps: int = 200, batch: int = 64, hidden: int = 64) -> list[dict]:
    """Measure every setting; print a Markdown table and return its rows."""
    args = argparse.Namespace(steps=steps, batch=batch, hidden=hidden)
    rows = []
    for processes, devices in SETTINGS:
        result = run_setting(processes, devices, args)
        rows.append({"processes": processes, "devices": devices, **result})
    reference = np.asarray(rows[0]["losses"])
    print(
        f"LSTM {INPUT}->{hidden}, global batch {batch}, {TIME} steps per sequence, {steps} updates"
    )
    print("| processes x devices | steps/s | loss vs 1 device: step 1 | step 10 | last step |")
    print("|---|---|---|---|---|")
    for row in rows:
        # Relative differences; Adam turns rounding in near-zero gradients into whole steps,
        # so they grow over the run although each step agrees to float rounding.
        difference = np.abs(np.asarray(row["losses"]) - reference) / np.abs(reference)
        row["loss_difference"] = difference
        print(
            f"| {row['processes']} x {row['devices']} | {row['steps_per_second']:.1f} "
            f"| {difference[0]:.1e} | {difference[9]:.1e} | {difference[-1]:.1e} |"
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps per setting")
    parser.add_argument("--batch", type=int, default=64, help="global batch size")
    parser.add_argument("--hidden", type=int, default=64, help="hidden size of the LSTM")
    parser.add_argument("--worker", type=int, nargs=3, metavar=("ID", "PROCESSES", "PORT"))
    parsed = parser.parse_args()
    if parsed.worker:
        worker(*parsed.worker, parsed)
    else:
        main(parsed.steps, parsed.batch, parsed.hidden)
