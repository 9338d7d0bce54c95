// Loads libwoundphase_vision.so on first use (dlopen) and creates image models through its
// extern "C" factory. Torch-free: a process that never asks for an image model never loads
// libtorch.
#include <dlfcn.h>  // for dlopen, dlsym, dlerror
#include <fmt/format.h>
#include <unistd.h>  // for readlink

#include <array>
#include <cstdlib>     // for getenv
#include <filesystem>  // for path
#include <mutex>       // for call_once

#include "experiment/vision_library.h"
#include "vision/c_abi.h"
#include "woundphase/vision.h"

namespace woundphase {
namespace {

using AbiVersionFn = int (*)();
using CreateFn = int (*)(const VisionSettings*, int, ImageModel**, char*, size_t);

constexpr size_t kErrorCapacity = 4096;
// Where `make install` puts the library, relative to the executable's folder (CMakeLists.txt).
#ifndef WOUNDPHASE_VISION_INSTALL_RELATIVE
#define WOUNDPHASE_VISION_INSTALL_RELATIVE "../lib/woundphase"
#endif
constexpr char kInstalledVisionDir[] = WOUNDPHASE_VISION_INSTALL_RELATIVE;

struct Library {
  void* handle = nullptr;
  CreateFn create = nullptr;
  std::string error;  // why it cannot be used; empty when it can
};

std::string executable_dir() {
  std::array<char, 4096> buffer{};
  const ssize_t n = readlink("/proc/self/exe", buffer.data(), buffer.size() - 1);
  if (n <= 0) return ".";
  return std::filesystem::path(std::string(buffer.data(), n)).parent_path().string();
}

Library open_library() {
  Library lib;
  const std::string path = vision_library_path();
  // RTLD_LOCAL keeps libtorch's symbols out of the program's namespace.
  lib.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib.handle == nullptr) {
    const char* why = dlerror();
    lib.error = fmt::format(
        "the image branches are not available: cannot load {} ({}); build the woundphase_vision "
        "target (needs libtorch) or set {} to the library",
        path, why ? why : "unknown error", kVisionLibraryEnv);
    return lib;
  }
  auto abi = reinterpret_cast<AbiVersionFn>(dlsym(lib.handle, "woundphase_vision_abi_version"));
  lib.create = reinterpret_cast<CreateFn>(dlsym(lib.handle, "woundphase_vision_create"));
  if (abi == nullptr || lib.create == nullptr) {
    lib.error = fmt::format("{} is not a woundphase vision library (no factory symbol)", path);
  } else if (abi() != kVisionAbiVersion) {
    lib.error =
        fmt::format("{} was built for interface version {}, this program needs {}: rebuild it",
                    path, abi(), kVisionAbiVersion);
  }
  if (!lib.error.empty()) lib.create = nullptr;
  return lib;
}

const Library& library() {
  static std::once_flag once;
  static Library lib;
  std::call_once(once, [] { lib = open_library(); });
  return lib;
}

}  // namespace

std::string vision_library_path() {
  if (const char* env = std::getenv(kVisionLibraryEnv); env != nullptr && *env != '\0') return env;
  // The build tree keeps the library next to the executable; `make install` and the Debian
  // package put it in lib/woundphase beside bin/ (relative, so an unpacked package works anywhere).
  const std::filesystem::path dir = executable_dir();
  const std::filesystem::path beside = dir / kVisionLibraryName;
  const std::filesystem::path installed = dir / kInstalledVisionDir / kVisionLibraryName;
  std::error_code ec;
  if (!std::filesystem::exists(beside, ec) && std::filesystem::exists(installed, ec))
    return installed.lexically_normal().string();
  return beside.string();
}

void* vision_library_handle(std::string* why) {
  const Library& lib = library();
  if (why != nullptr) *why = lib.error;
  return lib.create != nullptr ? lib.handle : nullptr;
}

bool vision_available(std::string* why) {
  const Library& lib = library();
  if (why != nullptr) *why = lib.error;
  return lib.create != nullptr;
}

std::unique_ptr<ImageModel> create_image_model(const VisionSettings& settings, int channels) {
  settings.validate();  // without loading the library
  const Library& lib = library();
  if (lib.create == nullptr) throw InputError(lib.error);
  std::array<char, kErrorCapacity> error{};
  ImageModel* model = nullptr;
  const int status = lib.create(&settings, channels, &model, error.data(), error.size());
  return vision_abi::take(status, model, error.data(), "the image model");
}

}  // namespace woundphase
