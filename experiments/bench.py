"""Benchmark: jlstm against every installed LSTM library, on the same machine, in one process.

All peers get the same weights and inputs (float32, batch-major `(batch, time, input)`, full
output sequence). Before timing, their outputs and input gradients are compared with jlstm's;
a peer that differs is still timed, and flagged MISMATCH in the table and in the notes.

Usage:
  python experiments/bench.py                    # all configs C1..C5, all installed peers
  python experiments/bench.py --configs C1,C3    # a subset; `BxTxIxH` (e.g. 8x20x16x32) also works
  python experiments/bench.py --peers jlstm,torch --repeats 20 --json bench.json
  python experiments/bench.py --quick            # a smoke run on two tiny configs
  python experiments/bench.py --options          # the options users train with, C1 and C3
  python experiments/bench.py --options --loss mse  # the same, with a loss that reads ys

Columns (one row per config and peer):
  forward ms       median time of one forward call (outputs of all steps).
  fwd+bwd ms       median time of one call computing `sum(ys)` and its gradients w.r.t. the
                   weights and the inputs (`jax.value_and_grad`; PyTorch `.backward()`).
  jlstm/peer       jlstm's time divided by the peer's: below 1 means jlstm is faster.
  compile s        trace + lower + XLA compile of `jax.jit(f).lower(weights, xs).compile()`,
                   forward / fwd+bwd; n/a for eager PyTorch.
  memory MB        forward / fwd+bwd. JAX: XLA temp + output bytes of the compiled program
                   (`memory_analysis()`). PyTorch: a lower bound, outputs (forward) plus the
                   tensors saved for backward and the gradients (fwd+bwd).
  max err          max |ys - ys_jlstm| / max |dxs - dxs_jlstm| relative to max |dxs_jlstm|.
PyTorch is timed with 1 and 2 intra-op threads; each time column reports the faster (the
label says which: "(forward / fwd+bwd threads)").

Timing: after warm-up, rounds visit every (peer, program) in turn, each running a batch of
calls of about the same length, so background load hits all peers alike; the median over
rounds of the time per call is reported. Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import sys
import time
from typing import Any, NamedTuple

import jax
import numpy as np
from _bench_options import options_table
from _bench_peers import PEER_MODULES, Prepared, Program, prepare

import jlstm

CONFIGS = {  # name: (batch, time, input_size, hidden_size)
    "C1": (32, 100, 64, 128),
    "C2": (64, 200, 128, 256),
    "C3": (16, 1000, 32, 64),
    "C4": (128, 50, 256, 512),
    "C5": (3, 5, 4, 2),
}
QUICK_CONFIGS = ("C5", "8x20x16x32")
YS_TOL = 1e-5  # absolute, on outputs in (-1, 1)
DXS_RTOL = 1e-4  # relative to the largest input gradient
MODES = ("forward", "fwdbwd")


class Budget(NamedTuple):
    """How long to time each (peer, program) per config."""

    target_s: float  # total timed seconds per (peer, program)
    min_slot_s: float  # shortest batch of calls
    max_slot_s: float  # longest batch of calls (unless one call takes longer)
    min_rounds: int
    max_rounds: int
    warmup: int  # calls before the timed rounds; the fastest estimates the call time


FULL = Budget(1.0, min_slot_s=0.01, max_slot_s=2.0, min_rounds=5, max_rounds=100, warmup=3)
QUICK = Budget(0.02, min_slot_s=0.002, max_slot_s=0.01, min_rounds=3, max_rounds=5, warmup=2)


def parse_config(text: str) -> tuple[str, tuple[int, int, int, int]]:
    """`C1` or `BxTxIxH` -> (name, (batch, time, input_size, hidden_size))."""
    if text in CONFIGS:
        return text, CONFIGS[text]
    parts = text.lower().split("x")
    sizes = tuple(int(part) for part in parts if part.isdigit())
    if len(parts) != 4 or len(sizes) != 4 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"config {text!r}: expected one of {list(CONFIGS)} or BxTxIxH"
        )
    return text, sizes


def make_problem(
    config: tuple[int, int, int, int], seed: int = 0
) -> tuple[jlstm.LSTMParams, np.ndarray]:
    """Glorot-uniform `weight_ih`, orthogonal `weight_hh`, a random bias (so that every gate
    block is checked) and N(0, 1) inputs, drawn with NumPy (no compiles)."""
    batch, time_steps, input_size, hidden = config
    rng = np.random.default_rng(seed)
    limit = np.sqrt(6 / (input_size + 4 * hidden))
    weight_ih = rng.uniform(-limit, limit, (4 * hidden, input_size))
    weight_hh = np.linalg.qr(rng.normal(size=(4 * hidden, hidden)))[0]
    bias = rng.normal(0, 0.5, 4 * hidden) + np.repeat([0.0, 1.0, 0.0, 0.0], hidden)
    params = jlstm.LSTMParams(*(w.astype(np.float32) for w in (weight_ih, weight_hh, bias)))
    return params, rng.normal(size=(batch, time_steps, input_size)).astype(np.float32)


def _batch_time(program: Program, calls: int) -> float:
    """Seconds per call of `calls` back-to-back calls."""
    if program.setup is not None:
        program.setup()
    start = time.perf_counter()
    for _ in range(calls):
        program.call()
    return (time.perf_counter() - start) / calls


def time_interleaved(
    prepared: list[Prepared], budget: Budget, rounds: int | None = None
) -> dict[tuple[str, str], float]:
    """Median seconds per call of every (peer key, mode), from interleaved rounds."""
    programs = {(p.key, mode): getattr(p, mode) for p in prepared for mode in MODES}
    estimate = {}
    for key, program in programs.items():
        # The fastest of a few calls: a stall in one of them must not set the batch sizes.
        estimate[key] = min(_batch_time(program, 1) for _ in range(max(1, budget.warmup)))
        if estimate[key] < budget.min_slot_s:  # a single short call is mostly timer noise
            estimate[key] = _batch_time(program, math.ceil(budget.min_slot_s / estimate[key]))
    slot = min(budget.max_slot_s, max(budget.min_slot_s, *estimate.values()))
    calls = {key: max(1, round(slot / seconds)) for key, seconds in estimate.items()}
    if rounds is None:
        rounds = min(budget.max_rounds, max(budget.min_rounds, math.ceil(budget.target_s / slot)))
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in programs}
    keys = list(programs)
    gc.collect()
    gc.disable()  # a collection inside one peer's batch would be charged to that peer
    try:
        for index in range(rounds):
            shift = index % len(keys)  # rotate, so no peer always runs first
            for key in keys[shift:] + keys[:shift]:
                samples[key].append(_batch_time(programs[key], calls[key]))
    finally:
        gc.enable()
    return {key: float(np.median(values)) for key, values in samples.items()}


def _errors(peer: Prepared, reference: Prepared) -> tuple[float, float]:
    error_ys = float(np.max(np.abs(peer.ys - reference.ys)))
    scale = max(float(np.max(np.abs(reference.dxs))), float(np.finfo(np.float32).tiny))
    return error_ys, float(np.max(np.abs(peer.dxs - reference.dxs))) / scale


def config_rows(
    name: str, config: tuple[int, ...], prepared: list[Prepared], seconds: dict
) -> list[dict[str, Any]]:
    """One row per peer; PyTorch's thread counts merge into one row (the faster per mode)."""
    by_peer: dict[str, list[Prepared]] = {}
    for peer in prepared:
        by_peer.setdefault(peer.name, []).append(peer)
    reference = by_peer["jlstm"][0]
    rows = []
    for peer_name, variants in by_peer.items():
        first = variants[0]
        best = {m: min(variants, key=lambda p, m=m: seconds[p.key, m]) for m in MODES}
        error_ys, error_dxs = _errors(first, reference)
        memory = {m: getattr(first, m).memory_bytes for m in MODES}
        rows.append(
            {
                "config": name,
                **dict(zip(("batch", "time", "input_size", "hidden_size"), config, strict=True)),
                "peer": peer_name,
                "label": first.label,
                **{f"{m}_ms": 1e3 * seconds[best[m].key, m] for m in MODES},
                **{f"ratio_{m}": seconds["jlstm", m] / seconds[best[m].key, m] for m in MODES},
                **{f"compile_{m}_s": getattr(first, m).compile_s for m in MODES},
                **{f"memory_{m}_mb": None if b is None else b / 2**20 for m, b in memory.items()},
                "threads": {m: best[m].threads for m in MODES} if first.threads else None,
                "error_ys": error_ys,
                "error_dxs": error_dxs,
                "parity_ok": error_ys <= YS_TOL and error_dxs <= DXS_RTOL,
            }
        )
    return rows


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _pair(row: dict, field: str) -> str:
    return " / ".join(_num(row[field.format(m)]) for m in MODES)


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as one markdown table; the config is named on its first row."""
    lines = [
        "| config (B, T, I, H) | peer | forward ms | fwd+bwd ms | jlstm/peer fwd "
        "| jlstm/peer fwd+bwd | compile s fwd / f+b | memory MB fwd / f+b | max err ys / dxs |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    previous = None
    for row in rows:
        sizes = (row["batch"], row["time"], row["input_size"], row["hidden_size"])
        config = "" if row["config"] == previous else f"{row['config']} {sizes}"
        previous = row["config"]
        label = row["label"]
        if row["threads"]:
            label += " ({forward} / {fwdbwd} threads)".format(**row["threads"])
        errors = f"{row['error_ys']:.1e} / {row['error_dxs']:.1e}"
        lines.append(
            f"| {config} | {label} | {_num(row['forward_ms'])} | {_num(row['fwdbwd_ms'])} "
            f"| {row['ratio_forward']:.2f} | {row['ratio_fwdbwd']:.2f} "
            f"| {_pair(row, 'compile_{}_s')} | {_pair(row, 'memory_{}_mb')} "
            f"| {errors if row['parity_ok'] else errors + ' **MISMATCH**'} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """The CPU, cores, load, library versions and JAX backend this run used."""
    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as cpuinfo:
            names = [
                line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
            ]
        cpu = names[0] if names else cpu
    versions = {}
    for dist in ("jax", "jaxlib", "numpy", "flax", "dm-haiku", "equinox", "keras", "torch"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    device = jax.devices()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "versions": versions,
        "backend": jax.default_backend(),
        "device": f"{device.platform}: {device.device_kind}",
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def describe(info: dict[str, Any]) -> str:
    """`machine()` as the lines printed above the table."""
    load = " ".join(f"{value:.2f}" for value in info["load_average"] or ())
    lines = [
        f"machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), "
        f"load average {load or 'n/a'}; JAX backend {info['backend']} ({info['device']})",
        "versions: "
        + ", ".join(f"{k} {v}" for k, v in {"python": info["python"], **info["versions"]}.items()),
    ]
    if info["xla_flags"]:
        lines.append(f"XLA_FLAGS: {info['xla_flags']}")
    return "\n".join(lines)


def prepare_peers(
    names: list[str], params: jlstm.LSTMParams, xs: np.ndarray, notes: list[str]
) -> list[Prepared]:
    """Every named peer that is installed and builds; the rest go to `notes`."""
    prepared = []
    for name in names:
        if importlib.util.find_spec(PEER_MODULES[name]) is None:
            notes.append(f"{name}: skipped, `{PEER_MODULES[name]}` is not installed")
            continue
        print(f"  preparing {name}", file=sys.stderr, flush=True)
        try:
            prepared += prepare(name, params, xs)
        except Exception as error:  # one broken peer must not sink a long run
            if name == "jlstm":
                raise
            notes.append(f"{name}: skipped, {type(error).__name__}: {error}")
    return prepared


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", help=f"comma-separated {list(CONFIGS)} or BxTxIxH")
    parser.add_argument("--peers", help=f"comma-separated subset of {list(PEER_MODULES)}")
    parser.add_argument("--quick", action="store_true", help="tiny configs, few repeats")
    parser.add_argument(
        "--repeats",
        type=int,
        help="timing rounds, each a batch of calls per peer (default: adaptive)",
    )
    parser.add_argument("--json", help="also write the machine and the rows to this file")
    parser.add_argument(
        "--options",
        action="store_true",
        help="instead: the realistic-options table (lengths, mask, dropout, bf16, ...) on C1, C3",
    )
    parser.add_argument(
        "--loss",
        choices=("sum", "mse"),
        default="sum",
        help="the options table's loss: sum(ys), or the mean squared error against targets",
    )
    args = parser.parse_args(argv)
    default = ["C1", "C3"] if args.options else QUICK_CONFIGS if args.quick else CONFIGS
    configs = args.configs.split(",") if args.configs else default
    args.configs = [parse_config(text) for text in configs]
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    args.peers = args.peers.split(",") if args.peers else list(PEER_MODULES)
    unknown = set(args.peers) - set(PEER_MODULES)
    if unknown:
        parser.error(f"unknown peers {sorted(unknown)}; choose from {list(PEER_MODULES)}")
    args.peers = ["jlstm"] + [name for name in args.peers if name != "jlstm"]  # the reference
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark, print the machine and the table, and return the rows."""
    args = parse_args(argv)
    budget = QUICK if args.quick else FULL
    info = machine()
    print(describe(info), flush=True)
    if args.options:
        for name, sizes in args.configs:
            rounds = args.repeats or (3 if args.quick else 15)
            print(options_table(name, sizes, rounds, args.loss))
        return []
    # The timed batches set PyTorch's thread count; it is restored at the end.
    torch = None
    if "torch" in args.peers and importlib.util.find_spec("torch") is not None:
        torch = importlib.import_module("torch")
    torch_threads = torch.get_num_threads() if torch else None
    rows, notes = [], []
    if info["backend"] != "cpu" and "torch" in args.peers:
        notes.append(f"torch: runs on the CPU, the JAX peers on {info['device']}")
    if not args.quick:
        # A process's first compiles pay one-time costs: pay them untimed, on a tiny problem.
        print("warm-up", file=sys.stderr, flush=True)
        prepare_peers(args.peers, *make_problem((1, 2, 1, 1)), [])
    try:
        for name, config in args.configs:
            print(f"{name} {config}", file=sys.stderr, flush=True)
            params, xs = make_problem(config)
            prepared = prepare_peers(args.peers, params, xs, notes)
            seconds = time_interleaved(prepared, budget, args.repeats)
            rows += config_rows(name, config, prepared, seconds)
    finally:
        if torch is not None:
            torch.set_num_threads(torch_threads)
    print(table(rows))
    notes += [
        f"{row['config']} {row['peer']}: outputs differ from jlstm's"
        for row in rows
        if not row["parity_ok"]
    ]
    for note in dict.fromkeys(notes):
        print(f"- {note}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": info, "rows": rows}, out, indent=1)
    return rows


if __name__ == "__main__":
    main()
