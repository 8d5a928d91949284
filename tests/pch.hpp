// Precompiled once and shared by every test TU: the heavy headers only.
#pragma once
// torch first: it pulls in glog, whose CHECK(condition) macro would otherwise replace Catch's
// CHECK (a failing check would then abort the whole binary instead of being reported).
#include <torch/torch.h>
#include "catch_compat.hpp"
