#pragma once

/// Batched image augmentations for BYOL's two views (docs/spec.md): the functional math
/// (byol::augment::functional), the random ops, Compose, and the policies byol_view1 (T) and
/// byol_view2 (T').
///
///     #include <byol/augment.hpp>
///     auto t1 = byol::augment::byol_view1(224), t2 = byol::augment::byol_view2(224);
///     auto v1 = t1(images), v2 = t2(images);

#include <byol/augment/functional.hpp>
#include <byol/augment/transforms.hpp>
