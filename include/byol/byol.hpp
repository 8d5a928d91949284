#pragma once

/// byol: Bootstrap Your Own Latent for LibTorch. One include for everything:
///
///     #include <byol/byol.hpp>
///
/// or one header per component: loss.hpp, ema.hpp, schedule.hpp, optim/lars.hpp, heads.hpp,
/// learner.hpp, eval.hpp, checkpoint.hpp, train_state.hpp, presets.hpp, augment.hpp,
/// autocast.hpp. Image data and models have their own umbrellas (data.hpp, models.hpp).

#include <byol/version.hpp>

#include <byol/augment.hpp>
#include <byol/autocast.hpp>
#include <byol/checkpoint.hpp>
#include <byol/ema.hpp>
#include <byol/eval.hpp>
#include <byol/heads.hpp>
#include <byol/learner.hpp>
#include <byol/loss.hpp>
#include <byol/optim/lars.hpp>
#include <byol/presets.hpp>
#include <byol/schedule.hpp>
#include <byol/train_state.hpp>
