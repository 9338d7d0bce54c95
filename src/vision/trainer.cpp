// The image library's entry points: the extern "C" factory of TorchImageModel (image_model.h), the
// lock around libtorch's global generator, and the TorchBranch view of a model.
#include <mutex>
#include <stdexcept>  // for logic_error

#include "vision/c_abi.h"
#include "vision/image_model.h"
#include "vision/torch_branch.h"
#include "woundphase/vision.h"

namespace woundphase::vision {

std::mutex& global_generator_mutex() {
  static std::mutex mutex;
  return mutex;
}

TorchBranch& as_torch_branch(ImageModel& model) {
  auto* branch = dynamic_cast<TorchBranch*>(&model);
  if (branch == nullptr) throw std::logic_error("an image model from another library");
  return *branch;
}

}  // namespace woundphase::vision

extern "C" int woundphase_vision_abi_version() { return woundphase::kVisionAbiVersion; }

extern "C" int woundphase_vision_create(const woundphase::VisionSettings* settings, int channels,
                                        woundphase::ImageModel** out, char* error,
                                        size_t error_size) {
  return woundphase::vision_abi::guarded(error, error_size, [&] {
    *out = woundphase::vision::without_backtrace(
        [&] { return new woundphase::vision::TorchImageModel(*settings, channels); });
  });
}
