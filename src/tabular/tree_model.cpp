// Restoring a fitted tree model from its JSON, whatever its kind.
#include "tabular/models.h"

namespace woundphase {

std::unique_ptr<TreeModel> tree_model_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string()) {
    throw InputError("tree model JSON has no \"kind\" field");
  }
  const std::string kind = j["kind"].get<std::string>();
  if (kind == "rf") return tabular_detail::forest_from_json(j);
  if (kind == "gbdt") return tabular_detail::gbdt_from_json(j);
  if (kind == "ordinal") return tabular_detail::ordinal_from_json(j);
  if (kind == "stack") return tabular_detail::stack_from_json(j);
  throw InputError("tree model JSON has unknown kind '" + kind +
                   "' (expected rf, gbdt, ordinal or stack)");
}

}  // namespace woundphase
