#pragma once

/// Batched image augmentations for BYOL's two views (docs/spec.md): the functional math
/// (byol::augment::functional), the random ops, Compose, the policies byol_view1 (T) and
/// byol_view2 (T'), and the deterministic evaluation ops CenterCrop and Resize.
///
///     #include <byol/augment.hpp>
///     auto t1 = byol::augment::byol_view1(224), t2 = byol::augment::byol_view2(224);
///     auto v1 = t1(images), v2 = t2(images);

#include <byol/augment/center_crop.hpp>
#include <byol/augment/functional.hpp>
#include <byol/augment/resize.hpp>
#include <byol/augment/transforms.hpp>
