// File helpers every stage that writes results uses.
#pragma once

#include <string>

namespace woundphase {

// Writes `content` to `path` via a temporary file in the same folder and an atomic rename, so a
// reader never sees a partial file and a failed write leaves the old file untouched.
void write_file_atomically(const std::string& path, const std::string& content);

// 64-bit FNV-1a of a file's bytes, as hex: identifies the data a run or bundle used.
std::string file_fingerprint(const std::string& path);

}  // namespace woundphase
