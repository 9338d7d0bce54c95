// libFuzzer target: image file names. Only InputError may escape; a name that parses must
// round-trip through to_name and pair through paired_name.
#include <cstddef>  // for size_t
#include <cstdint>  // for uint8_t
#include <string>

#include "woundphase/core.h"
#include "woundphase/image_name.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  using namespace woundphase;
  try {
    const ImageName name = parse_image_name(text);
    if (parse_image_name(to_name(name)) != name) __builtin_trap();
    const std::string pair = paired_name(text);
    if (pair.size() != text.size()) __builtin_trap();
    if (parse_image_name(pair) != paired(name)) __builtin_trap();
    if (paired_name(pair) != text) __builtin_trap();
  } catch (const InputError&) {
    // Not an image name of the study: the expected outcome for most inputs.
  }
  return 0;
}
