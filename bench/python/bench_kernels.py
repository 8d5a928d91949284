#!/usr/bin/env python3
"""The loss, EMA and LARS kernels written the usual PyTorch way, timed like bench/bench_kernels.cpp.

The same shapes and the same math as the C++ benchmarks: F.normalize loss with autograd, the
per-parameter EMA loops (out-of-place as in byol-pytorch and lightly's deactivated path, in-place
as in solo-learn), a per-parameter LARS loop (as in solo-learn and lightly), and the copy floor.
Prints JSON lines {"name": ..., "seconds": ...} so bench/compare.py can put both sides together.

    OMP_NUM_THREADS=2 python3 bench/python/bench_kernels.py [--device cuda] [--min-time 0.5]
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import lars_step, timeit  # noqa: E402
from shapes import ema_shapes, lars_shapes  # noqa: E402


def naive_loss(p, z):
    p = F.normalize(p, dim=-1, p=2)
    z = F.normalize(z.detach(), dim=-1, p=2)
    return (2 - 2 * (p * z).sum(dim=-1)).mean()


def bench_loss(device, min_time, out):
    for rows in (256, 1024, 4096):
        p = torch.randn(rows, 256, device=device, requires_grad=True)
        z = torch.randn(rows, 256, device=device)
        with torch.no_grad():
            out(f"BM_LossForward/pytorch/{rows}", timeit(lambda: naive_loss(p, z), device, min_time))

        def fwd_bwd():
            naive_loss(p, z).backward()
            p.grad = None
        out(f"BM_LossForwardBackward/pytorch/{rows}", timeit(fwd_bwd, device, min_time))


def bench_ema(device, min_time, out):
    target = [torch.randn(s, device=device) for s in ema_shapes()]
    online = [torch.randn(s, device=device) for s in ema_shapes()]
    m = 0.996

    @torch.no_grad()
    def out_of_place():
        for i, (t, o) in enumerate(zip(target, online)):
            target[i] = t * m + o * (1.0 - m)

    @torch.no_grad()
    def in_place():
        for t, o in zip(target, online):
            t.mul_(m).add_(o, alpha=1.0 - m)

    @torch.no_grad()
    def copy():
        for t, o in zip(target, online):
            t.copy_(o)

    out("BM_Ema/pytorch_out_of_place_loop", timeit(out_of_place, device, min_time))
    out("BM_Ema/pytorch_in_place_loop", timeit(in_place, device, min_time))
    if hasattr(torch, "_foreach_lerp_"):
        out("BM_Ema/pytorch_foreach_lerp", timeit(lambda: torch._foreach_lerp_(target, online, 1.0 - m), device, min_time))
    out("BM_Ema/pytorch_copy_floor", timeit(copy, device, min_time))


def bench_lars(device, min_time, out):
    params = [torch.randn(s, device=device, requires_grad=True) for s in lars_shapes()]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    momenta = [torch.zeros_like(p) for p in params]
    out("BM_Lars/pytorch_per_parameter_loop", timeit(lambda: lars_step(params, momenta, lr=1e-4), device, min_time))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--filter", default="", help="run only benchmarks whose name contains this")
    args = parser.parse_args()
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(threads)
    device = torch.device(args.device)

    def out(name, seconds):
        if device.type == "cuda":  # the C++ side names its CUDA runs BM_<Family>CUDA/...
            family, rest = name.split("/", 1)
            name = f"{family}CUDA/{rest}"
        if args.filter in name:
            print(json.dumps({"name": name, "seconds": seconds, "torch": torch.__version__, "threads": threads}),
                  flush=True)

    for bench in (bench_loss, bench_ema, bench_lars):
        bench(device, args.min_time, out)


if __name__ == "__main__":
    main()
