// File helpers: atomic writes and fingerprints.
#include "woundphase/files.h"

#include <fmt/format.h>
#include <unistd.h>  // for getpid

#include <cstdint>
#include <cstdio>  // for rename
#include <filesystem>
#include <fstream>

#include "woundphase/core.h"

namespace fs = std::filesystem;

namespace woundphase {

void write_file_atomically(const std::string& path, const std::string& content) {
  const fs::path target(path);
  const fs::path tmp =
      target.parent_path() / fmt::format(".{}.tmp.{}", target.filename().string(), getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      throw InputError(fmt::format("{}: cannot write (is the folder writable?)", tmp.string()));
    out << content;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw InputError(fmt::format("{}: write failed (disk full?)", tmp.string()));
    }
  }
  if (std::rename(tmp.c_str(), target.c_str()) != 0) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw InputError(fmt::format("{}: cannot replace the file", path));
  }
}

std::string file_fingerprint(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open file for reading", path));
  constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
  constexpr uint64_t kFnvPrime = 0x100000001b3ULL;
  uint64_t h = kFnvOffset;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= kFnvPrime;
    }
  }
  return fmt::format("{:016x}", h);
}

}  // namespace woundphase
