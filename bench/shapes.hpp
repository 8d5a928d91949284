// Parameter shapes of the networks the kernels run on in real training, built procedurally.
#pragma once

#include <cstdint>
#include <vector>

namespace byol_bench {

using Shape = std::vector<int64_t>;

/// torchvision's ResNet-50 without its fc layer (159 tensors, 23.5M floats): the BYOL encoder.
inline std::vector<Shape> resnet50_encoder_shapes() {
  std::vector<Shape> shapes = {{64, 3, 7, 7}, {64}, {64}};  // conv1, bn1.weight, bn1.bias
  const int64_t blocks[] = {3, 4, 6, 3};
  const int64_t widths[] = {64, 128, 256, 512};
  int64_t in = 64;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t w = widths[stage];
    for (int64_t b = 0; b < blocks[stage]; ++b) {
      shapes.push_back({w, in, 1, 1});
      shapes.push_back({w});
      shapes.push_back({w});
      shapes.push_back({w, w, 3, 3});
      shapes.push_back({w});
      shapes.push_back({w});
      shapes.push_back({4 * w, w, 1, 1});
      shapes.push_back({4 * w});
      shapes.push_back({4 * w});
      if (b == 0) {  // downsample: 1x1 conv + BN
        shapes.push_back({4 * w, in, 1, 1});
        shapes.push_back({4 * w});
        shapes.push_back({4 * w});
      }
      in = 4 * w;
    }
  }
  return shapes;
}

/// An MLP head Linear(in -> hidden) - BN(hidden) - ReLU - Linear(hidden -> out): 6 tensors.
inline std::vector<Shape> mlp_head_shapes(int64_t in, int64_t hidden, int64_t out) {
  return {{hidden, in}, {hidden}, {hidden}, {hidden}, {out, hidden}, {out}};
}

/// What the EMA averages: encoder + projector (165 tensors, about 32.9M floats).
inline std::vector<Shape> ema_shapes() {
  auto shapes = resnet50_encoder_shapes();
  for (const auto& s : mlp_head_shapes(2048, 4096, 256)) shapes.push_back(s);
  return shapes;
}

/// What LARS trains: encoder + projector + predictor (171 tensors).
inline std::vector<Shape> lars_shapes() {
  auto shapes = ema_shapes();
  for (const auto& s : mlp_head_shapes(256, 4096, 256)) shapes.push_back(s);
  return shapes;
}

}  // namespace byol_bench
