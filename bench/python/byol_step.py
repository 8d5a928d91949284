#!/usr/bin/env python3
"""A whole BYOL step written the usual PyTorch way, timed like bench/bench_step.cpp.

Encoder + projector + predictor (Linear-BN-ReLU-Linear, 4096/256), a deep-copied target updated by
a per-parameter in-place EMA loop, F.normalize loss, a per-parameter LARS loop. CPU: the default
SmallCNN at 28 px (batch 256) and ResNet-18 with a small-image stem at 32 px (batch 64); CUDA:
ResNet-50 at 224 px, batch 256, bf16 autocast, channels_last. Prints JSON lines like
bench_kernels.py.

    OMP_NUM_THREADS=2 python3 bench/python/byol_step.py [--device cuda] [--min-time 2]
"""
import argparse
import contextlib
import copy
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import torchvision
except ImportError:  # the GPU machine may have torch alone: the ResNets below stand in
    torchvision = None

sys.path.insert(0, os.path.dirname(__file__))
from common import lars_step, timeit  # noqa: E402


def small_cnn():
    layers, inp = [], 1
    for out, stride in zip((32, 64, 128, 256), (2, 2, 2, 1)):
        layers += [nn.Conv2d(inp, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
        inp = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 256, 1


class _Bottleneck(nn.Module):
    """torchvision's Bottleneck (v1.5: the stride on the 3x3 convolution)."""

    def __init__(self, inp, width, stride):
        super().__init__()
        out = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(inp, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out))
        self.down = (nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                     if stride != 1 or inp != out else nn.Identity())

    def forward(self, x):
        return F.relu(self.body(x) + self.down(x))


class _BasicBlock(nn.Module):
    def __init__(self, inp, width, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(inp, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        self.down = (nn.Sequential(nn.Conv2d(inp, width, 1, stride, bias=False), nn.BatchNorm2d(width))
                     if stride != 1 or inp != width else nn.Identity())

    def forward(self, x):
        return F.relu(self.body(x) + self.down(x))


class _ResNet(nn.Module):
    """The layers, shapes and FLOPs of torchvision.models.resnet18/resnet50 (names differ)."""

    def __init__(self, name):
        super().__init__()
        block, depths, expansion = {"resnet18": (_BasicBlock, (2, 2, 2, 2), 1),
                                    "resnet50": (_Bottleneck, (3, 4, 6, 3), 4)}[name]
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, inp = [], 64
        for i, depth in enumerate(depths):
            width = 64 * 2 ** i
            for j in range(depth):
                layers.append(block(inp, width, 2 if (j == 0 and i > 0) else 1))
                inp = width * expansion
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(inp, 1000)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = torch.flatten(F.adaptive_avg_pool2d(self.layers(x), 1), 1)
        return self.fc(x)


def resnet(name, small_stem):
    model = getattr(torchvision.models, name)() if torchvision is not None else _ResNet(name)
    if small_stem:
        model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    width = model.fc.in_features
    model.fc = nn.Identity()
    return model, width, 3


def mlp(inp, hidden=4096, out=256):
    return nn.Sequential(nn.Linear(inp, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))


def loss_fn(p, z):
    return (2 - 2 * (F.normalize(p, dim=-1) * F.normalize(z.detach(), dim=-1)).sum(-1)).mean()


def time_step(make_encoder, batch, size, device, bf16, min_time):
    encoder, width, channels = make_encoder()
    online = nn.Sequential(encoder, mlp(width)).to(device)
    predictor = mlp(256).to(device)
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    online, target = online.to(memory_format=memory_format), target.to(memory_format=memory_format)
    params = list(online.parameters()) + list(predictor.parameters())
    momenta = [torch.zeros_like(p) for p in params]
    v1 = torch.rand(batch, channels, size, size, device=device).to(memory_format=memory_format)
    v2 = torch.rand(batch, channels, size, size, device=device).to(memory_format=memory_format)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            p1, p2 = predictor(online(v1)), predictor(online(v2))
            with torch.no_grad():
                z1, z2 = target(v1), target(v2)
            loss = loss_fn(p1, z2) + loss_fn(p2, z1)
        loss.backward()
        lars_step(params, momenta, lr=0.1)
        for p in params:
            p.grad = None
        with torch.no_grad():
            for t, o in zip(target.parameters(), online.parameters()):
                t.mul_(0.996).add_(o, alpha=0.004)

    return timeit(step, device, min_time)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--min-time", type=float, default=2.0)
    args = parser.parse_args()
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    torch.set_num_threads(threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        runs = [("BM_ByolStepCUDA/pytorch/224", lambda: resnet("resnet50", False), 256, 224, True)]
    else:
        runs = [("BM_ByolStepSmallCNN/pytorch/28", small_cnn, 256, 28, False),
                ("BM_ByolStepResNet18/pytorch/32", lambda: resnet("resnet18", True), 64, 32, False)]
    for name, make, batch, size, bf16 in runs:
        seconds = time_step(make, batch, size, device, bf16, args.min_time)
        print(json.dumps({"name": name, "seconds": seconds, "images_per_second": batch / seconds,
                          "torch": torch.__version__, "threads": threads}), flush=True)


if __name__ == "__main__":
    main()
