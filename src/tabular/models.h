// Internal to src/tabular: restoring each model kind from its JSON (tree_model_from_json
// dispatches on "kind").
#pragma once

#include <memory>             // for unique_ptr
#include <nlohmann/json.hpp>  // for json

#include "woundphase/tabular.h"

namespace woundphase::tabular_detail {

// Version of the JSON layout written by to_json(); bumped when the layout changes.
inline constexpr int kJsonFormatVersion = 1;

std::unique_ptr<TreeModel> forest_from_json(const nlohmann::json& j);
std::unique_ptr<TreeModel> gbdt_from_json(const nlohmann::json& j);
std::unique_ptr<TreeModel> ordinal_from_json(const nlohmann::json& j);
std::unique_ptr<TreeModel> stack_from_json(const nlohmann::json& j);

}  // namespace woundphase::tabular_detail
