// The loaded libwoundphase_vision.so, for the loaders of its other factories (fusion_loader.cpp).
// Torch-free.
#pragma once

#include <string>

namespace woundphase {

// The library's dlopen handle, loading it (once per process) on first use; nullptr when it cannot
// be used, with the reason in `why` (as vision_available() gives it).
void* vision_library_handle(std::string* why);

}  // namespace woundphase
