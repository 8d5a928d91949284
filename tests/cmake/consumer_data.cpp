// A user's program that links byol::data: a PNG round trip in memory and one two-view batch.
#include <byol/data.hpp>

#include <ATen/ATen.h>

#include <iostream>

int main() {
  const at::Tensor image = at::arange(3 * 4 * 5, at::kByte).reshape({3, 4, 5});
  const at::Tensor back = byol::data::decode_image(byol::data::encode_png(image));
  if (!back.equal(image)) {
    std::cerr << "the PNG round trip changed the pixels\n";
    return 1;
  }
  byol::data::TensorSource source(at::zeros({8, 1, 4, 4}, at::kByte), at::arange(8, at::kLong));
  auto to_float = [](const at::Tensor& x, at::Generator&) { return x.to(at::kFloat); };
  byol::data::TwoViewLoader loader(source, to_float, to_float, byol::data::LoaderOptions(4));
  auto batch = loader.next();
  if (!batch || batch->view1.size(0) != 4) {
    std::cerr << "the loader returned no batch of 4\n";
    return 1;
  }
  std::cout << "byol data consumer ok\n";
  return 0;
}
