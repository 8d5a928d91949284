#pragma once

/// Random augmentation ops and BYOL's two view policies T and T' (docs/spec.md), batched.
///
/// Every op decides per image (with probability p) and draws its factors per image, all at once
/// for the batch, from a CPU generator; the [B]-sized draws then move to the images' device and
/// the math runs there as batched ATen operations (byol::augment::functional).
///
///   view 1 (T):  crop -> flip 0.5 -> jitter 0.8 -> grayscale 0.2 -> blur 1.0 -> solarize 0.0
///   view 2 (T'): crop -> flip 0.5 -> jitter 0.8 -> grayscale 0.2 -> blur 0.1 -> solarize 0.2
///
///     auto t1 = byol::augment::byol_view1(224), t2 = byol::augment::byol_view2(224);
///     torch::manual_seed(0);                        // or pass a CPU generator: t1(images, gen)
///     auto v1 = t1(images), v2 = t2(images);        // uint8 or float [B, 3, H, W] -> [B, 3, 224, 224]

#include <byol/augment/functional.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/core/Generator.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/arg.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace byol::augment {
namespace detail {

/// The global CPU generator, the one torch::manual_seed seeds.
inline at::Generator default_generator() {
  return at::detail::getDefaultCPUGenerator();
}

inline void check_generator(const at::Generator& generator, const char* where) {
  TORCH_CHECK(generator.defined(), where, ": the generator is undefined");
  TORCH_CHECK(generator.device().is_cpu(), where,
              ": the generator must be a CPU generator (per-image random numbers are drawn on the CPU and then "
              "moved to the images' device), got one for ",
              generator.device());
}

inline void check_probability(double p, const char* where) {
  TORCH_CHECK(p >= 0.0 && p <= 1.0, where, ": p must be in [0, 1], got ", p);
}

inline void check_batch(int64_t batch, const char* where) {
  TORCH_CHECK(batch > 0, where, ": the batch must hold at least one image, got ", batch);
}

/// n draws from U[low, high), float64, on the CPU.
inline at::Tensor uniform(int64_t n, double low, double high, const at::Generator& generator) {
  const at::Tensor u = at::rand({n}, generator, at::TensorOptions().dtype(at::kDouble));
  return u.mul_(high - low).add_(low);
}

/// n independent decisions, each true with probability p.
inline at::Tensor bernoulli(int64_t n, double p, const at::Generator& generator) {
  return at::rand({n}, generator, at::TensorOptions().dtype(at::kDouble)) < p;
}

/// The positions of the true entries of a CPU bool mask.
inline std::vector<int64_t> selected_rows(const at::Tensor& mask) {
  const at::Tensor m = mask.to(at::kCPU, at::kBool).contiguous();
  const bool* v = m.data_ptr<bool>();
  std::vector<int64_t> rows;
  rows.reserve(static_cast<size_t>(m.numel()));
  for (int64_t i = 0; i < m.numel(); ++i) {
    if (v[i]) {
      rows.push_back(i);
    }
  }
  return rows;
}

/// Images as a contiguous float tensor the op may overwrite: uint8 -> float32 / 255 and
/// float16/bfloat16 -> float32 (new tensors); float32/float64 are taken as they are (made
/// contiguous) when `owned`, copied otherwise.
inline at::Tensor float_images(const at::Tensor& images, bool owned, const char* where) {
  functional::detail::check_images(images, where);
  const auto type = images.scalar_type();
  if (type == at::kByte) {
    return images.to(at::kFloat).div_(255.0);
  }
  TORCH_CHECK(at::isFloatingType(type), where, ": images must be uint8 in [0, 255] or floating point in [0, 1], got ",
              type);
  if (type != at::kFloat && type != at::kDouble) {
    return images.to(at::kFloat);
  }
  return owned ? images.contiguous() : images.clone(at::MemoryFormat::Contiguous);
}

/// The batch size a drawn `apply` mask was drawn for.
inline int64_t drawn_batch(const at::Tensor& apply, const char* where) {
  TORCH_CHECK(apply.defined() && apply.dim() == 1 && apply.device().is_cpu(), where,
              ": params.apply must be a 1-D CPU tensor, got ", apply.defined() ? apply.sizes() : at::IntArrayRef{});
  return apply.size(0);
}

/// Checks the images an in-place apply_ receives: [B, C, H, W], float32 or float64.
inline void check_inplace_images(const at::Tensor& images, const char* where) {
  functional::detail::check_images(images, where);
  TORCH_CHECK(images.scalar_type() == at::kFloat || images.scalar_type() == at::kDouble, where,
              ": apply_ works in place on float32 or float64 images, got ", images.scalar_type(),
              " (call the op itself, which converts)");
}

/// The same, and that the params were drawn for as many images.
inline void check_apply_images(const at::Tensor& images, int64_t batch, const char* where) {
  check_inplace_images(images, where);
  TORCH_CHECK(images.size(0) == batch, where, ": params were drawn for ", batch, " images but images has shape ",
              images.sizes());
}

/// The calling conventions shared by the shape-preserving ops, from Derived::sample(batch,
/// generator) and Derived::apply_(images, params).
template <typename Derived>
class InPlaceTransform {
 public:
  /// Applies the op to a copy of `images` (uint8 in [0, 255] or floating point in [0, 1]),
  /// drawing from the global CPU generator (torch::manual_seed makes it reproducible).
  at::Tensor operator()(const at::Tensor& images) const {
    return (*this)(images, default_generator());
  }
  /// The same with an explicit CPU generator.
  at::Tensor operator()(const at::Tensor& images, at::Generator generator) const {
    at::NoGradGuard no_grad;
    at::Tensor x = float_images(images, /*owned=*/false, Derived::kName);
    return self().apply_(x, self().sample(x.size(0), std::move(generator)));
  }
  /// Draws and applies, overwriting `images` when it is float32/float64 (what Compose calls on
  /// the tensors it owns); returns the result.
  at::Tensor forward_(at::Tensor images, at::Generator generator) const {
    at::NoGradGuard no_grad;
    at::Tensor x = float_images(images, /*owned=*/true, Derived::kName);
    return self().apply_(x, self().sample(x.size(0), std::move(generator)));
  }

 private:
  const Derived& self() const {
    return static_cast<const Derived&>(*this);
  }
};

/// The ops that only decide, per image with probability Options::p(), whether to apply
/// themselves (flip, grayscale, solarize). Derived provides kName, its constructor and
/// apply_rows_(images, rows), in place on the images at `rows` of a float32/float64 batch.
template <typename Derived, typename Options>
class BernoulliTransform : public InPlaceTransform<Derived> {
 public:
  /// What one call draws: apply [B] bool on the CPU.
  struct Params {
    at::Tensor apply;
  };

  Params sample(int64_t batch, at::Generator generator) const {
    check_generator(generator, Derived::kName);
    check_batch(batch, Derived::kName);
    return {bernoulli(batch, options_.p(), generator)};
  }

  /// In place on float32/float64 images; returns them.
  at::Tensor apply_(at::Tensor images, const Params& params) const {
    at::NoGradGuard no_grad;
    check_apply_images(images, drawn_batch(params.apply, Derived::kName), Derived::kName);
    static_cast<const Derived&>(*this).apply_rows_(images, selected_rows(params.apply));
    return images;
  }

  const Options& options() const {
    return options_;
  }

 protected:
  explicit BernoulliTransform(Options options) : options_(std::move(options)) {
    options_.check();
  }

 private:
  Options options_;
};

}  // namespace detail

// ---- RandomResizedCrop ------------------------------------------------------------------------

/// Options of RandomResizedCrop. Defaults are docs/spec.md's (the reference's).
struct RandomResizedCropOptions {
  /// @param size  output side S (square output), >= 1
  RandomResizedCropOptions(int64_t size) : size_(size) {}  // NOLINT(google-explicit-constructor): as torch's options
  /// Output side S: every crop is resampled to S x S.
  TORCH_ARG(int64_t, size);
  /// Smallest area fraction of the crop. Default 0.08.
  TORCH_ARG(double, scale_min) = 0.08;
  /// Largest area fraction of the crop. Default 1.
  TORCH_ARG(double, scale_max) = 1.0;
  /// Smallest aspect ratio width / height (drawn log-uniformly). Default 3/4.
  TORCH_ARG(double, ratio_min) = 3.0 / 4.0;
  /// Largest aspect ratio width / height. Default 4/3.
  TORCH_ARG(double, ratio_max) = 4.0 / 3.0;
  /// Resampling filter. Default bicubic (the reference's).
  TORCH_ARG(Interpolation, interpolation) = Interpolation::bicubic;
  /// Stretch the filter over the output pixel's footprint when shrinking. Default true.
  TORCH_ARG(bool, antialias) = true;

 public:
  void check() const {
    TORCH_CHECK(size() >= 1, "RandomResizedCrop: size must be >= 1, got ", size());
    TORCH_CHECK(scale_min() > 0 && scale_min() <= scale_max() && scale_max() <= 1.0,
                "RandomResizedCrop: scale must satisfy 0 < scale_min <= scale_max <= 1, got [", scale_min(), ", ",
                scale_max(), "]");
    TORCH_CHECK(ratio_min() > 0 && ratio_min() <= ratio_max() && std::isfinite(ratio_max()),
                "RandomResizedCrop: ratio must satisfy 0 < ratio_min <= ratio_max < inf, got [", ratio_min(), ", ",
                ratio_max(), "]");
  }
};

/// A random crop of every image, resampled to size x size:
///   area fraction a ~ U[scale_min, scale_max], aspect r = w / h log-uniform in [ratio_min, ratio_max],
///   w = round(sqrt(a H W r)), h = round(sqrt(a H W / r)), each clamped to [1, W] and [1, H],
///   top ~ U{0 .. H - h}, left ~ U{0 .. W - w},
/// then functional::resized_crop (bicubic, antialiased when shrinking). One draw per image, no
/// rejection loop: a box that does not fit is clamped to the image, as docs/spec.md says.
/// Takes a batch [B, C, H, W] or a list of differently sized [C, H_i, W_i] images (what a JPEG
/// decoder yields), uint8 in [0, 255] or floating point in [0, 1]; returns float [B, C, S, S].
///
///     byol::augment::RandomResizedCrop crop(byol::augment::RandomResizedCropOptions(224));
///     auto batch = crop(decoded);            // std::vector<torch::Tensor> of [3, H_i, W_i] uint8
///     auto again = crop(images, generator);  // [B, 3, H, W]
class RandomResizedCrop {
 public:
  static constexpr const char* kName = "RandomResizedCrop";
  /// What one call draws: boxes [B, 4] float64 on the CPU, (top, left, height, width) in pixels.
  struct Params {
    at::Tensor boxes;
  };

  explicit RandomResizedCrop(RandomResizedCropOptions options) : options_(std::move(options)) {
    options_.check();
  }

  /// Boxes for B images of the same size H x W.
  Params sample(int64_t batch, int64_t height, int64_t width, at::Generator generator) const {
    detail::check_batch(batch, kName);
    TORCH_CHECK(height >= 1 && width >= 1, kName, ": images must be at least 1x1, got ", height, "x", width);
    const auto options = at::TensorOptions().dtype(at::kDouble);
    return sample(at::full({batch}, static_cast<double>(height), options),
                  at::full({batch}, static_cast<double>(width), options), std::move(generator));
  }

  /// Boxes for B images of sizes heights[b] x widths[b] (1-D CPU tensors).
  Params sample(const at::Tensor& heights, const at::Tensor& widths, at::Generator generator) const {
    detail::check_generator(generator, kName);
    TORCH_CHECK(heights.dim() == 1 && widths.sizes() == heights.sizes() && heights.device().is_cpu() &&
                    widths.device().is_cpu(),
                kName, ": heights and widths must be 1-D CPU tensors of the same length, got ", heights.sizes(),
                " and ", widths.sizes());
    const int64_t batch = heights.size(0);
    detail::check_batch(batch, kName);
    const at::Tensor h_img = checked_sides(heights, "heights");
    const at::Tensor w_img = checked_sides(widths, "widths");
    const at::Tensor u = at::rand({batch, 4}, generator, at::TensorOptions().dtype(at::kDouble));
    const double log_lo = std::log(options_.ratio_min());
    const double log_hi = std::log(options_.ratio_max());
    const at::Tensor area =
        h_img * w_img * (u.select(1, 0) * (options_.scale_max() - options_.scale_min()) + options_.scale_min());
    const at::Tensor ratio = at::exp(u.select(1, 1) * (log_hi - log_lo) + log_lo);
    const at::Tensor one = at::ones_like(h_img);
    const at::Tensor w = at::minimum(at::maximum(at::round(at::sqrt(area * ratio)), one), w_img);
    const at::Tensor h = at::minimum(at::maximum(at::round(at::sqrt(area / ratio)), one), h_img);
    const at::Tensor top = at::minimum(at::floor(u.select(1, 2) * (h_img - h + 1.0)), h_img - h);
    const at::Tensor left = at::minimum(at::floor(u.select(1, 3) * (w_img - w + 1.0)), w_img - w);
    return {at::stack({top, left, h, w}, 1)};
  }

  /// Crops and resamples a batch with drawn boxes; returns float [B, C, S, S].
  at::Tensor apply(const at::Tensor& images, const Params& params) const {
    return functional::resized_crop(images, params.boxes, options_.size(), options_.interpolation(),
                                    options_.antialias());
  }

  /// Crops and resamples a list of [C, H_i, W_i] images (same C, dtype and device) into one
  /// batch [B, C, S, S]; boxes are relative to each image, and only the box's pixels are read,
  /// so a large decoded image costs no more than its crop.
  at::Tensor apply(const std::vector<at::Tensor>& images, const Params& params) const {
    at::NoGradGuard no_grad;
    check_list(images);
    std::vector<int64_t> heights, widths;
    for (const at::Tensor& image : images) {
      heights.push_back(image.size(1));
      widths.push_back(image.size(2));
    }
    return functional::detail::resized_crop_list(
        images, functional::detail::checked_boxes(params.boxes, heights, widths, kName), options_.size(),
        options_.interpolation(), options_.antialias());
  }

  /// Draws boxes from the global CPU generator and crops a batch [B, C, H, W].
  at::Tensor operator()(const at::Tensor& images) const {
    return (*this)(images, detail::default_generator());
  }
  /// The same with an explicit CPU generator.
  at::Tensor operator()(const at::Tensor& images, at::Generator generator) const {
    functional::detail::check_images(images, kName);
    return apply(images, sample(images.size(0), images.size(2), images.size(3), std::move(generator)));
  }
  /// Draws boxes from the global CPU generator and crops a list of [C, H_i, W_i] images.
  at::Tensor operator()(const std::vector<at::Tensor>& images) const {
    return (*this)(images, detail::default_generator());
  }
  /// The same with an explicit CPU generator.
  at::Tensor operator()(const std::vector<at::Tensor>& images, at::Generator generator) const {
    check_list(images);
    std::vector<double> heights, widths;
    for (const at::Tensor& image : images) {
      heights.push_back(static_cast<double>(image.size(1)));
      widths.push_back(static_cast<double>(image.size(2)));
    }
    const auto options = at::TensorOptions().dtype(at::kDouble);
    return apply(images, sample(at::tensor(heights, options), at::tensor(widths, options), std::move(generator)));
  }
  /// For Compose: the crop never writes into its input.
  at::Tensor forward_(at::Tensor images, at::Generator generator) const {
    return (*this)(images, std::move(generator));
  }

  const RandomResizedCropOptions& options() const {
    return options_;
  }

 private:
  /// Image sides as a float64 CPU tensor, each checked >= 1.
  static at::Tensor checked_sides(const at::Tensor& sides, const char* name) {
    const at::Tensor v = sides.to(at::kDouble).contiguous();
    const double* p = v.data_ptr<double>();
    for (int64_t i = 0; i < v.numel(); ++i) {
      TORCH_CHECK(p[i] >= 1, kName, ": ", name, " must be >= 1 (images of at least 1x1), got ", name, "[", i,
                  "] = ", p[i]);
    }
    return v;
  }

  int64_t check_list(const std::vector<at::Tensor>& images) const {
    TORCH_CHECK(!images.empty(), kName, ": the list of images is empty");
    const at::Tensor& first = images.front();
    for (size_t i = 0; i < images.size(); ++i) {
      const at::Tensor& image = images[i];
      TORCH_CHECK(image.defined(), kName, ": image ", i, " is an undefined tensor");
      TORCH_CHECK(image.dim() == 3 && image.size(0) > 0 && image.size(1) > 0 && image.size(2) > 0, kName,
                  ": each image of the list must have shape [C, H, W] with C, H, W >= 1, got ", image.sizes(),
                  " for image ", i);
      TORCH_CHECK(image.scalar_type() == at::kByte || at::isFloatingType(image.scalar_type()), kName,
                  ": images must be uint8 in [0, 255] or floating point in [0, 1], got ", image.scalar_type(),
                  " for image ", i);
      TORCH_CHECK(image.size(0) == first.size(0) && image.scalar_type() == first.scalar_type() &&
                      image.device() == first.device(),
                  kName, ": every image of the list must have the channels, dtype and device of image 0 (",
                  first.size(0), " channels, ", first.scalar_type(), ", ", first.device(), "), got ", image.sizes(),
                  ", ", image.scalar_type(), ", ", image.device(), " for image ", i);
    }
    return static_cast<int64_t>(images.size());
  }

  RandomResizedCropOptions options_;
};

// ---- RandomHorizontalFlip ---------------------------------------------------------------------

/// Options of RandomHorizontalFlip.
struct RandomHorizontalFlipOptions {
  /// Probability that an image is flipped. Default 0.5 (both views).
  TORCH_ARG(double, p) = 0.5;

 public:
  void check() const {
    detail::check_probability(p(), "RandomHorizontalFlip");
  }
};

/// Flips each image left to right with probability p (functional::hflip on the chosen ones).
///
///     byol::augment::RandomHorizontalFlip flip(byol::augment::RandomHorizontalFlipOptions().p(0.5));
///     auto y = flip(images);              // global CPU generator
///     auto z = flip(images, generator);   // explicit CPU generator
class RandomHorizontalFlip : public detail::BernoulliTransform<RandomHorizontalFlip, RandomHorizontalFlipOptions> {
 public:
  static constexpr const char* kName = "RandomHorizontalFlip";

  explicit RandomHorizontalFlip(RandomHorizontalFlipOptions options = {}) : BernoulliTransform(options) {}

 private:
  friend BernoulliTransform;
  void apply_rows_(at::Tensor& images, const std::vector<int64_t>& rows) const {
    functional::detail::hflip_rows_(images, rows);
  }
};

// ---- ColorJitter ------------------------------------------------------------------------------

/// Options of ColorJitter. Defaults are BYOL's (docs/spec.md).
struct ColorJitterOptions {
  /// Probability that an image is jittered at all. Default 0.8.
  TORCH_ARG(double, p) = 0.8;
  /// b: brightness delta ~ U[-b, b], added. Default 0.4.
  TORCH_ARG(double, brightness) = 0.4;
  /// c: contrast factor ~ U[max(0, 1 - c), 1 + c]. Default 0.4.
  TORCH_ARG(double, contrast) = 0.4;
  /// s: saturation factor ~ U[max(0, 1 - s), 1 + s]. Default 0.2.
  TORCH_ARG(double, saturation) = 0.2;
  /// h: hue shift ~ U[-h, h] turns, h in [0, 0.5]. Default 0.1.
  TORCH_ARG(double, hue) = 0.1;

 public:
  void check() const {
    detail::check_probability(p(), "ColorJitter");
    TORCH_CHECK(brightness() >= 0 && std::isfinite(brightness()), "ColorJitter: brightness must be >= 0, got ",
                brightness());
    TORCH_CHECK(contrast() >= 0 && std::isfinite(contrast()), "ColorJitter: contrast must be >= 0, got ", contrast());
    TORCH_CHECK(saturation() >= 0 && std::isfinite(saturation()), "ColorJitter: saturation must be >= 0, got ",
                saturation());
    TORCH_CHECK(hue() >= 0 && hue() <= 0.5, "ColorJitter: hue must be in [0, 0.5], got ", hue());
  }
};

/// With probability p, applies to an image brightness, contrast, saturation and hue changes
/// (functional::adjust_*) in an order drawn per image, each followed by a clip to [0, 1]:
///   brightness  x + delta,               delta ~ U[-b, b]
///   contrast    (x - mean_c) f + mean_c,  f ~ U[max(0, 1 - c), 1 + c]
///   saturation  HSV s <- clip(s f, 0, 1), f ~ U[max(0, 1 - s), 1 + s]
///   hue         HSV h <- h + delta mod 1, delta ~ U[-h, h]
/// An op whose option is 0 is skipped (it would be the identity). Needs 3 channels when
/// saturation or hue is on.
///
///     byol::augment::ColorJitter jitter;   // BYOL's: p 0.8, 0.4, 0.4, 0.2, 0.1
///     auto y = jitter(images);
///     auto params = jitter.sample(images.size(0), gen);   // or draw first, apply later
class ColorJitter : public detail::InPlaceTransform<ColorJitter> {
 public:
  static constexpr const char* kName = "ColorJitter";
  /// Op codes in Params::order.
  enum Op : int64_t { kBrightness = 0, kContrast = 1, kSaturation = 2, kHue = 3 };
  /// What one call draws, all on the CPU: apply [B] bool; order [B, 4] int64, a permutation of
  /// the op codes per image (row b lists image b's ops first to last); the factors [B] float64.
  struct Params {
    at::Tensor apply;
    at::Tensor order;
    at::Tensor brightness;
    at::Tensor contrast;
    at::Tensor saturation;
    at::Tensor hue;
  };

  explicit ColorJitter(ColorJitterOptions options = {}) : options_(options) {
    options_.check();
  }

  Params sample(int64_t batch, at::Generator generator) const {
    detail::check_generator(generator, kName);
    detail::check_batch(batch, kName);
    Params params;
    params.apply = detail::bernoulli(batch, options_.p(), generator);
    // The argsort of i.i.d. uniforms is a uniformly random permutation.
    const at::Tensor keys = at::rand({batch, 4}, generator, at::TensorOptions().dtype(at::kDouble));
    params.order = at::argsort(keys, /*dim=*/int64_t{1}, /*descending=*/false);
    const double b = options_.brightness(), c = options_.contrast(), s = options_.saturation(), h = options_.hue();
    params.brightness = detail::uniform(batch, -b, b, generator);
    params.contrast = detail::uniform(batch, std::max(0.0, 1.0 - c), 1.0 + c, generator);
    params.saturation = detail::uniform(batch, std::max(0.0, 1.0 - s), 1.0 + s, generator);
    params.hue = detail::uniform(batch, -h, h, generator);
    return params;
  }

  /// In place on float32/float64 images; returns them.
  at::Tensor apply_(at::Tensor images, const Params& params) const {
    at::NoGradGuard no_grad;
    const int64_t batch = detail::drawn_batch(params.apply, kName);
    detail::check_apply_images(images, batch, kName);
    const at::Tensor factors[4] = {functional::detail::per_image(params.brightness, batch, kName, "params.brightness"),
                                   functional::detail::per_image(params.contrast, batch, kName, "params.contrast"),
                                   functional::detail::per_image(params.saturation, batch, kName, "params.saturation"),
                                   functional::detail::per_image(params.hue, batch, kName, "params.hue")};
    TORCH_CHECK(params.order.defined() && params.order.device().is_cpu() && params.order.dim() == 2 &&
                    params.order.size(0) == batch && params.order.size(1) == 4,
                kName, ": params.order must be a [B, 4] = [", batch, ", 4] CPU tensor, got ",
                params.order.defined() ? params.order.sizes() : at::IntArrayRef{});
    const at::Tensor order = params.order.to(at::kLong).contiguous();
    const int64_t* ord = order.data_ptr<int64_t>();
    for (int64_t i = 0; i < 4 * batch; ++i) {
      TORCH_CHECK(ord[i] >= 0 && ord[i] < 4, kName, ": params.order holds op codes 0..3, got ", ord[i], " in row ",
                  i / 4);
    }
    // A 1-channel image keeps its saturation and hue (torchvision leaves it as it is); the
    // factors were drawn all the same, so the random stream does not depend on the channels.
    const bool colour = options_.saturation() > 0 || options_.hue() > 0;
    const bool gray = colour && functional::detail::check_rgb_or_gray(images, kName);
    const bool enabled[4] = {options_.brightness() > 0, options_.contrast() > 0, options_.saturation() > 0 && !gray,
                             options_.hue() > 0 && !gray};
    const double* f[4] = {factors[0].data_ptr<double>(), factors[1].data_ptr<double>(), factors[2].data_ptr<double>(),
                          factors[3].data_ptr<double>()};
    const int64_t channels = images.size(1), plane = images.size(2) * images.size(3);
    functional::detail::for_rows_(
        images, detail::selected_rows(params.apply),
        // On the CPU each image runs its four ops in its own order while its pixels are in cache.
        [&](auto* image, int64_t b) {
          using T = std::remove_pointer_t<decltype(image)>;
          for (int64_t position = 0; position < 4; ++position) {
            const int64_t op = ord[4 * b + position];
            if (enabled[op]) {
              run(op, image, channels, plane, static_cast<T>(f[op][b]));
            }
          }
        },
        // Elsewhere position by position, each op over the images that have it at that position.
        [&](at::Tensor& x, const at::Tensor& idx) {
          const int64_t n = x.size(0);
          const int64_t* r = idx.data_ptr<int64_t>();
          for (int64_t position = 0; position < 4; ++position) {
            for (int64_t op = 0; op < 4; ++op) {
              if (!enabled[op]) {
                continue;
              }
              std::vector<int64_t> local;
              for (int64_t j = 0; j < n; ++j) {
                if (ord[4 * r[j] + position] == op) {
                  local.push_back(j);
                }
              }
              if (local.empty()) {
                continue;
              }
              if (static_cast<int64_t>(local.size()) == n) {
                run(op, x, functional::detail::column(factors[op], idx, x));
                continue;
              }
              const at::Tensor local_cpu = at::tensor(local, at::TensorOptions().dtype(at::kLong));
              const at::Tensor index = functional::detail::to_device(local_cpu, x.device(), at::kLong);
              at::Tensor sub = x.index_select(0, index);
              run(op, sub, functional::detail::column(factors[op], idx.index_select(0, local_cpu), sub));
              x.index_copy_(0, index, sub);
            }
          }
        });
    return images;
  }

  const ColorJitterOptions& options() const {
    return options_;
  }

 private:
  /// One op on one image [C, H, W] (contiguous), the fused CPU kernels.
  template <typename T>
  static void run(int64_t op, T* image, int64_t channels, int64_t plane, T value) {
    switch (op) {
      case kBrightness:
        functional::detail::cpu::brightness(image, channels * plane, value);
        break;
      case kContrast:
        functional::detail::cpu::contrast(image, channels, plane, value);
        break;
      case kSaturation:
        functional::detail::cpu::saturation(image, plane, value);
        break;
      default:
        functional::detail::cpu::hue(image, plane, value);
        break;
    }
  }

  /// One op on a slab [n, C, H, W], the ATen path; value is [n, 1, 1, 1].
  static void run(int64_t op, at::Tensor& x, const at::Tensor& value) {
    switch (op) {
      case kBrightness:
        functional::detail::aten::brightness_(x, value);
        break;
      case kContrast:
        functional::detail::aten::contrast_(x, value);
        break;
      case kSaturation:
        functional::detail::aten::saturation_(x, value);
        break;
      default:
        functional::detail::aten::hue_(x, value);
        break;
    }
  }

  ColorJitterOptions options_;
};

// ---- RandomGrayscale --------------------------------------------------------------------------

/// Options of RandomGrayscale.
struct RandomGrayscaleOptions {
  /// Probability that an image is turned to gray. Default 0.2 (both views).
  TORCH_ARG(double, p) = 0.2;

 public:
  void check() const {
    detail::check_probability(p(), "RandomGrayscale");
  }
};

/// With probability p, replaces an image by its grayscale 0.2989 R + 0.5870 G + 0.1140 B in all
/// three channels (functional::rgb_to_grayscale). A 1-channel image is left as it is (the draws
/// are still made).
///
///     byol::augment::RandomGrayscale gray(byol::augment::RandomGrayscaleOptions().p(0.2));
///     auto y = gray(images);
///     auto z = gray(images, generator);
class RandomGrayscale : public detail::BernoulliTransform<RandomGrayscale, RandomGrayscaleOptions> {
 public:
  static constexpr const char* kName = "RandomGrayscale";

  explicit RandomGrayscale(RandomGrayscaleOptions options = {}) : BernoulliTransform(options) {}

 private:
  friend BernoulliTransform;
  void apply_rows_(at::Tensor& images, const std::vector<int64_t>& rows) const {
    if (functional::detail::check_rgb_or_gray(images, kName)) {
      return;  // already gray (the draws were made all the same)
    }
    functional::detail::grayscale_rows_(images, rows);
  }
};

// ---- RandomGaussianBlur -----------------------------------------------------------------------

/// Options of RandomGaussianBlur.
struct RandomGaussianBlurOptions {
  /// @param kernel_size  odd, >= 1; BYOL: 2 floor(S / 20) + 1 for S x S views (23 at 224)
  RandomGaussianBlurOptions(int64_t kernel_size)  // NOLINT(google-explicit-constructor): as torch's options
      : kernel_size_(kernel_size) {}
  /// Kernel side, odd.
  TORCH_ARG(int64_t, kernel_size);
  /// Probability that an image is blurred. Default 1.0 (view 1; view 2 uses 0.1).
  TORCH_ARG(double, p) = 1.0;
  /// sigma ~ U[sigma_min, sigma_max] per image. Default 0.1.
  TORCH_ARG(double, sigma_min) = 0.1;
  /// Default 2.0.
  TORCH_ARG(double, sigma_max) = 2.0;

 public:
  void check() const {
    detail::check_probability(p(), "RandomGaussianBlur");
    functional::detail::check_kernel_size(kernel_size(), "RandomGaussianBlur");
    TORCH_CHECK(sigma_min() > 0 && sigma_min() <= sigma_max() && std::isfinite(sigma_max()),
                "RandomGaussianBlur: sigma must satisfy 0 < sigma_min <= sigma_max < inf, got [", sigma_min(), ", ",
                sigma_max(), "]");
  }
};

/// With probability p, blurs an image with a Gaussian of sigma ~ U[sigma_min, sigma_max]
/// (functional::gaussian_blur: separable, reflect padding, clipped).
///
///     byol::augment::RandomGaussianBlur blur(byol::augment::RandomGaussianBlurOptions(23).p(0.1));
///     auto y = blur(images);
///     auto z = blur(images, generator);
class RandomGaussianBlur : public detail::InPlaceTransform<RandomGaussianBlur> {
 public:
  static constexpr const char* kName = "RandomGaussianBlur";
  /// What one call draws, on the CPU: apply [B] bool, sigma [B] float64.
  struct Params {
    at::Tensor apply;
    at::Tensor sigma;
  };

  explicit RandomGaussianBlur(RandomGaussianBlurOptions options) : options_(options) {
    options_.check();
  }

  Params sample(int64_t batch, at::Generator generator) const {
    detail::check_generator(generator, kName);
    detail::check_batch(batch, kName);
    Params params;
    params.apply = detail::bernoulli(batch, options_.p(), generator);
    params.sigma = detail::uniform(batch, options_.sigma_min(), options_.sigma_max(), generator);
    return params;
  }

  /// In place on float32/float64 images; returns them.
  at::Tensor apply_(at::Tensor images, const Params& params) const {
    at::NoGradGuard no_grad;
    const int64_t batch = detail::drawn_batch(params.apply, kName);
    detail::check_apply_images(images, batch, kName);
    const at::Tensor sigma = functional::detail::checked_sigma(params.sigma, batch, kName);
    functional::detail::gaussian_blur_rows_(images, detail::selected_rows(params.apply), sigma,
                                            options_.kernel_size());
    return images;
  }

  const RandomGaussianBlurOptions& options() const {
    return options_;
  }

 private:
  RandomGaussianBlurOptions options_;
};

// ---- RandomSolarize ---------------------------------------------------------------------------

/// Options of RandomSolarize.
struct RandomSolarizeOptions {
  /// Probability that an image is solarized. Default 0.2 (view 2; view 1 uses 0).
  TORCH_ARG(double, p) = 0.2;
  /// Values >= threshold become 1 - x. Default 0.5.
  TORCH_ARG(double, threshold) = 0.5;

 public:
  void check() const {
    detail::check_probability(p(), "RandomSolarize");
    TORCH_CHECK(std::isfinite(threshold()), "RandomSolarize: threshold must be finite, got ", threshold());
  }
};

/// With probability p, solarizes an image: x < threshold ? x : 1 - x (functional::solarize).
///
///     byol::augment::RandomSolarize solarize(byol::augment::RandomSolarizeOptions().p(0.2).threshold(0.5));
///     auto y = solarize(images);
///     auto z = solarize(images, generator);
class RandomSolarize : public detail::BernoulliTransform<RandomSolarize, RandomSolarizeOptions> {
 public:
  static constexpr const char* kName = "RandomSolarize";

  explicit RandomSolarize(RandomSolarizeOptions options = {}) : BernoulliTransform(options) {}

 private:
  friend BernoulliTransform;
  void apply_rows_(at::Tensor& images, const std::vector<int64_t>& rows) const {
    functional::detail::solarize_rows_(images, rows, options().threshold());
  }
};

// ---- Normalize --------------------------------------------------------------------------------

/// Options of Normalize. Defaults are ImageNet's channel statistics.
struct NormalizeOptions {
  /// Per-channel mean. Default {0.485, 0.456, 0.406}.
  TORCH_ARG(std::vector<double>, mean) = std::vector<double>{0.485, 0.456, 0.406};
  /// Per-channel standard deviation, each > 0. Default {0.229, 0.224, 0.225}.
  TORCH_ARG(std::vector<double>, stddev) = std::vector<double>{0.229, 0.224, 0.225};

 public:
  void check() const {
    TORCH_CHECK(!mean().empty() && mean().size() == stddev().size(),
                "Normalize: mean and stddev must have the same, non-zero length, got ", mean().size(), " and ",
                stddev().size());
    for (size_t c = 0; c < stddev().size(); ++c) {
      TORCH_CHECK(stddev()[c] > 0 && std::isfinite(stddev()[c]), "Normalize: stddev must be > 0, got stddev[", c,
                  "] = ", stddev()[c]);
    }
  }
};

/// Deterministic: out_c = (x_c - mean_c) / stddev_c (functional::normalize), not clipped. Not part
/// of byol_view1/byol_view2 (docs/spec.md's views end in [0, 1]); append it where the encoder wants
/// normalised input: `Compose(byol_view1(224), Normalize())`.
///
///     byol::augment::Normalize normalize;   // ImageNet mean and std
///     auto y = normalize(images);
///     auto view = byol::augment::Compose(byol::augment::byol_view1(224), normalize);
class Normalize : public detail::InPlaceTransform<Normalize> {
 public:
  static constexpr const char* kName = "Normalize";
  /// Nothing is drawn.
  struct Params {};

  explicit Normalize(NormalizeOptions options = {}) : options_(std::move(options)) {
    options_.check();
  }

  Params sample(int64_t batch, const at::Generator& /*generator*/) const {
    detail::check_batch(batch, kName);
    return {};
  }

  /// In place on float32/float64 images; returns them.
  at::Tensor apply_(at::Tensor images, const Params& /*params*/) const {
    at::NoGradGuard no_grad;
    detail::check_inplace_images(images, kName);
    const auto channels = static_cast<size_t>(images.size(1));
    TORCH_CHECK(channels == options_.mean().size(), kName, ": mean and stddev have ", options_.mean().size(),
                " values but images has shape ", images.sizes());
    images.sub_(functional::detail::channel_values(options_.mean(), images))
        .div_(functional::detail::channel_values(options_.stddev(), images));
    return images;
  }

  const NormalizeOptions& options() const {
    return options_;
  }

 private:
  NormalizeOptions options_;
};

// ---- Compose ----------------------------------------------------------------------------------

/// Ops applied left to right, fixed at compile time (a std::tuple; no virtual calls). Each op
/// must offer `op(images, generator)` (leaves its input alone) and `op.forward_(images,
/// generator)` (may overwrite its input, which Compose owns): the first op is called the first
/// way, the others the second, so the pipeline allocates only what the first op returns. A
/// Compose is itself such an op and nests. The generator is shared, so one seed fixes the whole
/// pipeline.
///
///     byol::augment::Compose view(byol::augment::RandomResizedCrop(96), byol::augment::RandomHorizontalFlip(),
///                                 byol::augment::RandomGrayscale());
///     auto y = view(images);                 // global CPU generator; or view(images, generator)
template <typename... Ops>
class Compose {
  static_assert(sizeof...(Ops) > 0, "Compose needs at least one op");

 public:
  explicit Compose(Ops... ops) : ops_(std::move(ops)...) {}

  at::Tensor operator()(const at::Tensor& images) const {
    return (*this)(images, detail::default_generator());
  }
  at::Tensor operator()(const at::Tensor& images, at::Generator generator) const {
    try {
      return rest<1>(std::get<0>(ops_)(images, generator), generator);
    } catch (const c10::Error& e) {
      rethrow_with_input_(e, images.defined() ? images.sizes() : at::IntArrayRef{});
    }
  }
  /// A list of differently sized [C, H_i, W_i] images; the first op must take one
  /// (RandomResizedCrop does).
  at::Tensor operator()(const std::vector<at::Tensor>& images) const {
    return (*this)(images, detail::default_generator());
  }
  at::Tensor operator()(const std::vector<at::Tensor>& images, at::Generator generator) const {
    return rest<1>(std::get<0>(ops_)(images, generator), generator);
  }
  at::Tensor forward_(at::Tensor images, at::Generator generator) const {
    return rest<0>(std::move(images), generator);
  }

  /// The I-th op.
  template <size_t I>
  const auto& get() const {
    return std::get<I>(ops_);
  }
  const std::tuple<Ops...>& ops() const {
    return ops_;
  }

 private:
  // An op after the first sees what the ops before it made (after a crop, a shape the user never
  // passed): name the pipeline's input too, and the likely cause of a channel error.
  [[noreturn]] static void rethrow_with_input_(const c10::Error& e, at::IntArrayRef input) {
    const std::string message = e.what_without_backtrace();
    const std::string note = "; the images passed to the pipeline had shape ";
    if (message.find(note) != std::string::npos) {
      throw;  // an inner Compose has said it
    }
    const bool channels_last = input.size() == 4 && input[1] != 1 && input[1] != 3 && (input[3] == 1 || input[3] == 3);
    TORCH_CHECK(false, message, note, input,
                channels_last ? " (channels last? pass [B, C, H, W], e.g. images.permute({0, 3, 1, 2}))" : "");
  }

  template <size_t I>
  at::Tensor rest(at::Tensor images, const at::Generator& generator) const {
    if constexpr (I < sizeof...(Ops)) {
      return rest<I + 1>(std::get<I>(ops_).forward_(std::move(images), generator), generator);
    } else {
      return images;
    }
  }

  std::tuple<Ops...> ops_;
};

// ---- BYOL's views ---------------------------------------------------------------------------

/// The type of byol_view1 and byol_view2: crop, flip, jitter, grayscale, blur, solarize.
///
///     byol::augment::ByolView t1 = byol::augment::byol_view1(224);
///     const auto& blur = t1.get<4>();               // RandomGaussianBlur
///     double p = blur.options().p();                 // 1.0 in T, 0.1 in T'
using ByolView =
    Compose<RandomResizedCrop, RandomHorizontalFlip, ColorJitter, RandomGrayscale, RandomGaussianBlur, RandomSolarize>;

/// The blur kernel side BYOL uses for S x S views (docs/spec.md): 2 floor(S / 20) + 1, as the
/// reference's radius = (S // 10) // 2, kernel = 2 radius + 1. Below 20 px it is 1, a blur that
/// leaves the image as it is.
///
/// @param size  view side S >= 1
///
///     byol::augment::byol_blur_kernel_size(224);   // 23
///     byol::augment::byol_blur_kernel_size(32);    // 3
///     byol::augment::byol_blur_kernel_size(16);    // 1: no blur
inline int64_t byol_blur_kernel_size(int64_t size) {
  TORCH_CHECK(size >= 1, "byol_blur_kernel_size: size must be >= 1, got ", size);
  return 2 * (size / 20) + 1;
}

namespace detail {
inline ByolView byol_view(int64_t size, double blur_p, double solarize_p) {
  TORCH_CHECK(size >= 1, "byol_view: size must be >= 1, got ", size);
  const int64_t kernel = byol_blur_kernel_size(size);
  return ByolView(RandomResizedCrop(RandomResizedCropOptions(size)),
                  RandomHorizontalFlip(RandomHorizontalFlipOptions().p(0.5)),
                  ColorJitter(ColorJitterOptions().p(0.8).brightness(0.4).contrast(0.4).saturation(0.2).hue(0.1)),
                  RandomGrayscale(RandomGrayscaleOptions().p(0.2)),
                  RandomGaussianBlur(RandomGaussianBlurOptions(kernel).p(blur_p).sigma_min(0.1).sigma_max(2.0)),
                  RandomSolarize(RandomSolarizeOptions().p(solarize_p).threshold(0.5)));
}
}  // namespace detail

/// T of docs/spec.md, for S x S views: random resized crop (area U[0.08, 1], aspect log-U[3/4, 4/3],
/// bicubic, antialiased), flip p 0.5, colour jitter p 0.8 (brightness 0.4, contrast 0.4,
/// saturation 0.2, hue 0.1, random order), grayscale p 0.2, Gaussian blur p 1.0 (sigma U[0.1, 2],
/// kernel byol_blur_kernel_size(S)), solarize p 0. Output float [B, C, S, S] in [0, 1]; no
/// normalisation (append Normalize if wanted). C is 3, or 1 for grayscale images (MNIST), which
/// saturation, hue and grayscale leave as they are, with the same random draws (docs/spec.md).
///
///     auto t1 = byol::augment::byol_view1(224);
///     auto v1 = t1(images);                 // images: [B, 3, H, W] or a list of [3, H_i, W_i]
///     auto w1 = t1(images, generator);
inline ByolView byol_view1(int64_t size) {
  return detail::byol_view(size, /*blur_p=*/1.0, /*solarize_p=*/0.0);
}

/// T' of docs/spec.md: as byol_view1 but blur p 0.1 and solarize p 0.2.
///
///     auto t2 = byol::augment::byol_view2(224);
///     auto v2 = t2(images);
///     auto w2 = t2(images, generator);
inline ByolView byol_view2(int64_t size) {
  return detail::byol_view(size, /*blur_p=*/0.1, /*solarize_p=*/0.2);
}

}  // namespace byol::augment
