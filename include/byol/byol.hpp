#pragma once

/// byol: Bootstrap Your Own Latent for LibTorch. One include for everything:
///
///     #include <byol/byol.hpp>
///
/// or one header per component: loss.hpp, ema.hpp, schedule.hpp, optim/lars.hpp, heads.hpp,
/// learner.hpp, augment.hpp.

#include <byol/version.hpp>

#include <byol/augment.hpp>
#include <byol/ema.hpp>
#include <byol/heads.hpp>
#include <byol/learner.hpp>
#include <byol/loss.hpp>
#include <byol/optim/lars.hpp>
#include <byol/schedule.hpp>
