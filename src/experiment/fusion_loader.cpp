// Creates fusion heads through libwoundphase_vision.so's extern "C" fusion factory. Torch-free:
// the library is loaded (dlopen) only when a fusion model is asked for.
#include <dlfcn.h>  // for dlsym
#include <fmt/format.h>

#include <array>
#include <stdexcept>  // for runtime_error

#include "experiment/vision_library.h"
#include "vision/c_abi.h"
#include "woundphase/fusion.h"

namespace woundphase {
namespace {

using CreateFn = int (*)(const FusionSettings*, const FusionSource*, int, const ImageModel* const*,
                         FusionModel**, char*, size_t);

constexpr size_t kErrorCapacity = 4096;

}  // namespace

std::unique_ptr<FusionModel> create_fusion_model(const FusionSettings& settings,
                                                 const std::vector<FusionSource>& sources,
                                                 const std::vector<const ImageModel*>& branches) {
  settings.validate();  // without loading the library
  if (branches.size() != sources.size())
    throw InputError(
        fmt::format("fusion: {} branches for {} sources", branches.size(), sources.size()));
  std::string why;
  void* handle = vision_library_handle(&why);
  if (handle == nullptr) throw InputError(why);
  // The symbol never changes once the library is loaded: look it up once.
  static const auto create = reinterpret_cast<CreateFn>(dlsym(handle, "woundphase_fusion_create"));
  if (create == nullptr)
    throw InputError(fmt::format(
        "{} has no fusion factory (woundphase_fusion_create): rebuild the woundphase_vision target",
        vision_library_path()));
  std::array<char, kErrorCapacity> error{};
  FusionModel* model = nullptr;
  const int status = create(&settings, sources.data(), static_cast<int>(sources.size()),
                            branches.data(), &model, error.data(), error.size());
  return vision_abi::take(status, model, error.data(), "the fusion model");
}

}  // namespace woundphase
