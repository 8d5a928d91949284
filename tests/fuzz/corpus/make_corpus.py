#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus: tiny valid files of each kind the readers take.

    /usr/bin/python3 tests/fuzz/corpus/make_corpus.py    # rewrites tests/fuzz/corpus/<reader>/

IDX, CIFAR and PNG files are built byte by byte from their specifications (the PNG chunks and
CRCs with zlib), the JPEGs with PIL (python3-pil). The output is deterministic (fixed gzip
mtime); the files are committed, so CI does not run this.
"""
import gzip
import os
import random
import struct
import zlib

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20200613)


def write(reader, name, data):
    folder = os.path.join(HERE, reader)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)


def noise(n):
    return bytes(rng.randrange(256) for _ in range(n))


# ---- IDX: magic 00 00 08 ndim, ndim big-endian uint32 sizes, the bytes --------------------------
def idx(sizes, data):
    return bytes([0, 0, 8, len(sizes)]) + b"".join(struct.pack(">I", s) for s in sizes) + data


images = idx([2, 3, 4], noise(24))
labels = idx([3], bytes([0, 9, 4]))
write("idx", "images_2x3x4", images)
write("idx", "labels_3", labels)
write("idx", "images_2x3x4.gz", gz(images))
write("idx", "labels_3.gz", gz(labels))
write("idx", "tensor_4d", idx([1, 2, 2, 2], noise(8)))

# ---- CIFAR: records of label byte(s) + 3072 pixel bytes -----------------------------------------
def cifar10_record(label):
    return bytes([label]) + noise(3072)


def cifar100_record(coarse, fine):
    return bytes([coarse, fine]) + noise(3072)


write("cifar", "cifar10_1", cifar10_record(3))
write("cifar", "cifar10_2.gz", gz(cifar10_record(0) + cifar10_record(9)))
write("cifar", "cifar100_1", cifar100_record(19, 99))
write("cifar", "cifar100_1.gz", gz(cifar100_record(4, 17)))


# ---- PNG: signature, IHDR, (PLTE, tRNS), IDAT, IEND ---------------------------------------------
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]


def scanlines(pixels, width, height, bits, channels):
    """Filter type 0 rows of samples (pixels[y][x] is a tuple of `channels` samples)."""
    out = b""
    for row in pixels:
        if bits == 16:
            line = b"".join(struct.pack(">H", s) for px in row for s in px)
        elif bits == 8:
            line = bytes(s for px in row for s in px)
        else:  # 1, 2, 4 bits, one channel: packed from the high bit
            acc, n, line = 0, 0, b""
            for px in row:
                acc = (acc << bits) | px[0]
                n += bits
                if n == 8:
                    line += bytes([acc])
                    acc, n = 0, 0
            if n:
                line += bytes([acc << (8 - n)])
        out += b"\x00" + line
    return out


def png(width, height, bits, colour, interlace=False, palette=None, trns=None):
    channels = CHANNELS[colour]
    top = (1 << bits) - 1
    pixels = [[tuple(rng.randint(0, top) for _ in range(channels)) for _ in range(width)] for _ in range(height)]
    if interlace:
        raw = b""
        for y0, x0, dy, dx in ADAM7:
            sub = [row[x0::dx] for row in pixels[y0::dy]]
            if sub and sub[0]:
                raw += scanlines(sub, len(sub[0]), len(sub), bits, channels)
    else:
        raw = scanlines(pixels, width, height, bits, channels)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, colour, 0, 0, 1 if interlace else 0))
    if palette is not None:
        out += chunk(b"PLTE", bytes(palette))
    if trns is not None:
        out += chunk(b"tRNS", bytes(trns))
    out += chunk(b"IDAT", zlib.compress(raw, 9))
    out += chunk(b"IEND", b"")
    return out


write("png", "rgb8_4x3.png", png(4, 3, 8, 2))
write("png", "gray1_9x2.png", png(9, 2, 1, 0))
write("png", "gray4_3x3.png", png(3, 3, 4, 0))
write("png", "gray16_2x2.png", png(2, 2, 16, 0))
write("png", "rgb16_2x2.png", png(2, 2, 16, 2))
write("png", "graya8_3x2.png", png(3, 2, 8, 4))
write("png", "rgba8_5x5_adam7.png", png(5, 5, 8, 6, interlace=True))
write("png", "palette2_4x4_trns.png", png(4, 4, 2, 3, palette=noise(12), trns=[0, 128]))

# ---- JPEG: PIL's encoder (libjpeg) --------------------------------------------------------------
def jpeg(image, **options):
    import io

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


colour = Image.frombytes("RGB", (16, 8), noise(16 * 8 * 3))
write("jpeg", "rgb_16x8_q90_420.jpg", jpeg(colour, quality=90, subsampling=2))
write("jpeg", "rgb_16x8_q75_444.jpg", jpeg(colour, quality=75, subsampling=0))
write("jpeg", "rgb_13x7_progressive.jpg", jpeg(colour.crop((0, 0, 13, 7)), quality=80, progressive=True))
write("jpeg", "gray_9x9.jpg", jpeg(Image.frombytes("L", (9, 9), noise(81)), quality=85))
write("jpeg", "rgb_8x8_q50_optimized.jpg", jpeg(colour.crop((0, 0, 8, 8)), quality=50, optimize=True))
