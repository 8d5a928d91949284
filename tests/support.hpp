// Helpers shared by the tests: plain float64 views of tensors and error-message checks.
#pragma once

#include "pch.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

namespace byol_test {

/// The elements of t as float64, in row-major order.
inline std::vector<double> values(const torch::Tensor& t) {
  const torch::Tensor d = t.detach().to(torch::kCPU).to(torch::kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

/// Largest |a_i - b_i| / (atol + rtol |b_i|); <= 1 means all close.
inline double closeness(const std::vector<double>& a, const std::vector<double>& b, double rtol, double atol) {
  REQUIRE(a.size() == b.size());
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(a[i] - b[i]) / (atol + rtol * std::abs(b[i])));
  }
  return worst;
}

/// Runs f, which must throw a c10::Error whose message contains every one of `parts`.
template <typename F>
inline void require_error(F&& f, std::initializer_list<std::string> parts) {
  bool thrown = false;
  try {
    f();
  } catch (const c10::Error& e) {
    thrown = true;
    const std::string message = e.what_without_backtrace();
    for (const auto& part : parts) {
      INFO("message: " << message);
      CHECK(message.find(part) != std::string::npos);
    }
  }
  INFO("expected a c10::Error mentioning " << *parts.begin());
  CHECK(thrown);
}

}  // namespace byol_test

#define REQUIRE_CLOSE(actual, expected, rtol, atol) \
  REQUIRE(byol_test::closeness((actual), (expected), (rtol), (atol)) <= 1.0)
