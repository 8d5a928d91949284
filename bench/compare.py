#!/usr/bin/env python3
"""Puts byol_bench's JSON and the Python baselines' JSON lines side by side, with ratios.

    python3 bench/compare.py --cpp cpp.json --python python.jsonl

Each row is one kernel: byol's time, then each baseline's time and baseline / byol (how many
times faster byol is). Names pair up by their family (BM_Loss.../<B>, BM_Ema, BM_Lars, ...).
"""
import argparse
import json
import re
from collections import OrderedDict


def load_cpp(path):
    with open(path) as f:
        data = json.load(f)
    times = OrderedDict()
    aggregated = any(b.get("run_type") == "aggregate" for b in data["benchmarks"])
    for b in data["benchmarks"]:
        # With --benchmark_repetitions the median of the repetitions stands for the kernel.
        if aggregated and not (b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median"):
            continue
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
        name = b.get("run_name", b["name"]).replace("/real_time", "")
        times[name] = b["real_time"] * scale
    return data.get("context", {}), times


def load_python(path):
    times = OrderedDict()
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                row = json.loads(line)
                times[row["name"]] = row["seconds"]
    return times


def family(name):
    # BM_LossForward/byol/256 -> (BM_LossForward, 256, byol); BM_Ema/in_place_loop -> (BM_Ema, "", in_place_loop)
    # The augmentation benchmarks read BM_ByolViews/<size> (byol), BM_ByolViewsPerImage/<size> and
    # BM_ByolViewsFromList/<size> (variants of the same family).
    parts = name.split("/")
    if len(parts) == 2 and parts[1].isdigit():
        for suffix in ("PerImage", "FromList"):
            if parts[0].endswith(suffix):
                return parts[0][: -len(suffix)], parts[1], suffix[0].lower() + suffix[1:]
        return parts[0], parts[1], "byol"
    arg = parts[2] if len(parts) > 2 else ""
    return parts[0], arg, parts[1] if len(parts) > 1 else ""


def fmt(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpp", required=True)
    parser.add_argument("--python", required=True)
    args = parser.parse_args()
    context, cpp = load_cpp(args.cpp)
    py = load_python(args.python)
    rows = OrderedDict()
    for source, times in (("C++", cpp), ("Python", py)):
        for name, seconds in times.items():
            fam, arg, variant = family(name)
            rows.setdefault((fam, arg), OrderedDict())[f"{variant} ({source})" if source == "Python" else variant] = seconds
    print(f"host: {context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs, torch threads "
          f"{context.get('torch_threads', '?')}, date {context.get('date', '?')}")
    print(f"{'kernel':<34} {'byol':>10}  baselines (time, baseline/byol)")
    for (fam, arg), variants in rows.items():
        ours = variants.get("byol")
        label = f"{fam}/{arg}" if arg else fam
        cells = []
        for variant, seconds in variants.items():
            if variant == "byol":
                continue
            ratio = f"{seconds / ours:.2f}x" if ours else "-"
            cells.append(f"{variant} {fmt(seconds)} [{ratio}]")
        print(f"{label:<34} {fmt(ours) if ours else '-':>10}  " + "; ".join(cells))


if __name__ == "__main__":
    main()
