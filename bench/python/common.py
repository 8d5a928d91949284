"""What bench_kernels.py and byol_step.py share: the timing loop and the per-parameter LARS step."""
import time

import torch


def timeit(fn, device, min_time):
    """Seconds per call of fn(): one untimed warm-up call, then calls until min_time has passed
    and at least 3 ran, synchronising after each on CUDA (as the C++ benchmarks do)."""
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and n >= 3:
            return elapsed / n


@torch.no_grad()
def lars_step(params, momenta, lr, mu=0.9, wd=1.5e-6, eta=0.001):
    """LARS the usual way (solo-learn, lightly): a Python loop over the parameters; weight decay
    and the trust ratio eta |w| / |g| for matrices and convolutions, plain momentum for the rest."""
    for p, m in zip(params, momenta):
        g = p.grad
        if p.ndim > 1:
            g = g.add(p, alpha=wd)
            w_norm, g_norm = torch.norm(p), torch.norm(g)
            g = g.mul(torch.where((w_norm > 0) & (g_norm > 0), eta * w_norm / g_norm, torch.ones_like(w_norm)))
        m.mul_(mu).add_(g)
        p.add_(m, alpha=-lr)
