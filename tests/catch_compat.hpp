// Catch2 v2 (Debian 12: one header) and v3 (Debian 13: a compiled library with split headers)
// behind one include. tests/CMakeLists.txt defines BYOL_CATCH_MAJOR from the Catch2 it found.
#pragma once

#if BYOL_CATCH_MAJOR >= 3
#include <catch2/catch_all.hpp>
// v2 spelled these without the namespace; the tests keep v2's spelling.
using Catch::Approx;
#else
#include <catch2/catch.hpp>
#endif
