#!/usr/bin/env python3
"""BYOL's two views the usual way: torchvision's PIL transforms per image in DataLoader workers.

T and T' of docs/spec.md (RandomResizedCrop bicubic, flip, ColorJitter(0.4, 0.4, 0.2, 0.1) p 0.8,
grayscale p 0.2, Gaussian blur p 1.0 / 0.1 with torchvision's tensor blur, solarize p 0 / 0.2,
ToTensor) on 256 uint8 images of 32, 96 or 256 px, in a DataLoader with --workers persistent
processes (2 on the 2-core machine), batch 256; the first batch (the workers' start-up) is not
timed. Prints JSON lines with views per second, named like bench_augment.cpp's BM_ByolViews/<size>
so bench/compare.py pairs them.

    python3 bench/python/augment_views.py [--workers 2] [--batches 4]
"""
import argparse
import json
import time

import torch
import torchvision.transforms as T
from PIL import Image


def views(size):
    kernel = max(3, 2 * (size // 20) + 1)

    def make(blur_p, solarize_p):
        return T.Compose([
            T.RandomResizedCrop(size, interpolation=T.InterpolationMode.BICUBIC),
            T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
            T.RandomGrayscale(p=0.2),
            T.ToTensor(),
            T.RandomApply([T.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=blur_p),
            T.RandomSolarize(0.5, p=solarize_p),
        ])
    return make(1.0, 0.0), make(0.1, 0.2)


class TwoViews(torch.utils.data.Dataset):
    def __init__(self, images, size):
        self.images = images
        self.t1, self.t2 = views(size)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = self.images[i]
        return self.t1(image), self.t2(image)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=4, help="batches per size, the first untimed (at least 2)")
    args = parser.parse_args()
    if args.batches < 2:
        parser.error("--batches must be at least 2: the first one is not timed")
    torch.set_num_threads(1)
    for size, side in ((32, 32), (96, 96), (224, 256)):
        gen = torch.Generator().manual_seed(1)
        pixels = torch.randint(0, 256, (256, side, side, 3), generator=gen, dtype=torch.uint8).numpy()
        images = [Image.fromarray(p) for p in pixels] * args.batches
        loader = torch.utils.data.DataLoader(TwoViews(images, size), batch_size=256, num_workers=args.workers,
                                             persistent_workers=args.workers > 0)
        batches = iter(loader)
        next(batches)  # the workers' start-up: not timed
        start = time.perf_counter()
        n = 0
        for v1, v2 in batches:
            n += v1.shape[0] + v2.shape[0]
        seconds = time.perf_counter() - start
        print(json.dumps({"name": f"BM_ByolViews/torchvision_pil/{size}", "seconds": seconds * 512 / n,
                          "views_per_second": n / seconds, "workers": args.workers}), flush=True)


if __name__ == "__main__":
    main()
