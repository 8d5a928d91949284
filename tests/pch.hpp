// Precompiled once and shared by every test TU: the heavy headers only.
#pragma once
#include <catch2/catch.hpp>
#include <torch/torch.h>
