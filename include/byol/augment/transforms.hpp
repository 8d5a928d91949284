#pragma once

/// The random augmentation ops, Compose and BYOL's two view policies T and T' (docs/spec.md),
/// batched. Each lives in its own header; this one includes them all (kept so that existing
/// includes work):
///
///   random_resized_crop.hpp  RandomResizedCrop          color_jitter.hpp   ColorJitter
///   horizontal_flip.hpp      RandomHorizontalFlip       gaussian_blur.hpp  RandomGaussianBlur
///   grayscale.hpp            RandomGrayscale            solarize.hpp       RandomSolarize
///   random_apply.hpp         RandomApply<Op> (the Bernoulli ops above)
///   normalize.hpp            Normalize                  compose.hpp        Compose
///   views.hpp                ByolView, byol_view1, byol_view2, byol_blur_kernel_size
///
/// Every op decides per image (with probability p) and draws its factors per image, all at once
/// for the batch, from a CPU generator; the [B]-sized draws then move to the images' device and
/// the math runs there (byol::augment::functional).
///
///     auto t1 = byol::augment::byol_view1(224), t2 = byol::augment::byol_view2(224);
///     torch::manual_seed(0);                        // or pass a CPU generator: t1(images, gen)
///     auto v1 = t1(images), v2 = t2(images);        // uint8 or float [B, 3, H, W] -> [B, 3, 224, 224]

#include <byol/augment/color_jitter.hpp>
#include <byol/augment/compose.hpp>
#include <byol/augment/gaussian_blur.hpp>
#include <byol/augment/grayscale.hpp>
#include <byol/augment/horizontal_flip.hpp>
#include <byol/augment/normalize.hpp>
#include <byol/augment/random_apply.hpp>
#include <byol/augment/random_resized_crop.hpp>
#include <byol/augment/solarize.hpp>
#include <byol/augment/views.hpp>
