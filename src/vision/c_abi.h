// The C boundary of libwoundphase_vision.so, both sides of it: the status codes its extern "C"
// factories return, the guard every factory runs its body in, and what the loaders make of a
// status. Torch-free (the loaders in the experiment stage include it too).
#pragma once

#include <fmt/format.h>

#include <cstddef>    // for size_t
#include <cstring>    // for strncpy
#include <exception>  // for exception
#include <memory>     // for unique_ptr
#include <stdexcept>  // for runtime_error

#include "woundphase/core.h"  // for InputError

namespace woundphase::vision_abi {

// A factory's return value; the message is in its `error` buffer unless kOk.
constexpr int kOk = 0;
constexpr int kInternalError = 1;
constexpr int kBadInput = 2;  // an InputError inside: the caller rethrows one (exit code 2)

// Runs `body` (which returns nothing) inside an extern "C" factory: no exception crosses the C
// boundary. InputError gives kBadInput, any other exception kInternalError, with what() copied into
// `error` (truncated to error_size - 1 bytes, NUL-terminated; nothing when error is null).
template <typename Body>
int guarded(char* error, size_t error_size, Body&& body) noexcept {
  const auto fail = [&](int status, const char* message) {
    if (error != nullptr && error_size > 0) {
      std::strncpy(error, message, error_size - 1);
      error[error_size - 1] = '\0';
    }
    return status;
  };
  try {
    body();
    return kOk;
  } catch (const InputError& e) {
    return fail(kBadInput, e.what());
  } catch (const std::exception& e) {
    return fail(kInternalError, e.what());
  }
}

// The loaders' side: the object a factory made, or the InputError (kBadInput) or runtime_error
// its status stands for; `what` names the object ("the image model") in internal errors.
template <typename T>
std::unique_ptr<T> take(int status, T* made, const char* error, const char* what) {
  if (status == kOk && made != nullptr) return std::unique_ptr<T>(made);
  if (status == kBadInput) throw InputError(error);
  throw std::runtime_error(fmt::format("creating {} failed: {}", what, error));
}

}  // namespace woundphase::vision_abi
