#pragma once

/// byol::data: dataset readers, image decoding and the two-view loader. One include for all of
/// it (needs the byol::data CMake target: LibTorch + libjpeg-turbo + libpng + zlib + threads):
///
///     #include <byol/data.hpp>
///
/// or one header each: data/idx.hpp (MNIST, Fashion-MNIST), data/cifar.hpp, data/image.hpp
/// (read_image, decode_image, write_png), data/image_folder.hpp, data/loader.hpp
/// (TwoViewLoader), data/dataset.hpp (TensorSource), data/thread_pool.hpp.
///
///     auto train = byol::data::load_fashion_mnist();
///     byol::data::TensorSource source(train);
///     byol::data::TwoViewLoader loader(source, view1, view2, byol::data::LoaderOptions(256));

#include <byol/data/cifar.hpp>
#include <byol/data/dataset.hpp>
#include <byol/data/idx.hpp>
#include <byol/data/image.hpp>
#include <byol/data/image_folder.hpp>
#include <byol/data/loader.hpp>
#include <byol/data/thread_pool.hpp>
