"""Parameter shapes of ResNet-50 (no fc) + projector (+ predictor), as bench/shapes.hpp builds them."""


def resnet50_encoder_shapes():
    shapes = [(64, 3, 7, 7), (64,), (64,)]
    inplanes = 64
    for blocks, width in zip((3, 4, 6, 3), (64, 128, 256, 512)):
        for b in range(blocks):
            shapes += [(width, inplanes, 1, 1), (width,), (width,),
                       (width, width, 3, 3), (width,), (width,),
                       (4 * width, width, 1, 1), (4 * width,), (4 * width,)]
            if b == 0:
                shapes += [(4 * width, inplanes, 1, 1), (4 * width,), (4 * width,)]
            inplanes = 4 * width
    return shapes


def mlp_head_shapes(inp, hidden, out):
    return [(hidden, inp), (hidden,), (hidden,), (hidden,), (out, hidden), (out,)]


def ema_shapes():
    return resnet50_encoder_shapes() + mlp_head_shapes(2048, 4096, 256)


def lars_shapes():
    return ema_shapes() + mlp_head_shapes(256, 4096, 256)
