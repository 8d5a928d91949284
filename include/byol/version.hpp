#pragma once

/// byol's own version, and a test of the LibTorch version it is compiled against.
///
///     #if BYOL_TORCH_VERSION_AT_LEAST(2, 0)
///       ... an API that LibTorch 2 added ...
///     #endif

#include <torch/version.h>

#define BYOL_VERSION_MAJOR 0
#define BYOL_VERSION_MINOR 1
#define BYOL_VERSION_PATCH 0

/// True when the LibTorch in use is at least `major.minor`.
#define BYOL_TORCH_VERSION_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||               \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))
