// Modality names and combination parsing ("--modalities").
#include "woundphase/modality.h"

#include <fmt/format.h>

#include <algorithm>  // for sort, find
#include <array>
#include <iterator>  // for begin, end

#include "woundphase/core.h"     // for InputError, trim
#include "woundphase/suggest.h"  // for did_you_mean

namespace woundphase {
namespace {

constexpr std::array<const char*, kNumModalities> kModalityNames = {
    "metadata", "thermal_map", "depth_map", "depth_rgb", "thermal_rgb"};

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    parts.push_back(
        trim(text.substr(start, end == std::string::npos ? std::string::npos : end - start)));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

}  // namespace

std::string to_string(Modality m) { return kModalityNames[static_cast<int>(m)]; }

bool is_image(Modality m) { return m != Modality::kMetadata; }

Modality parse_modality(const std::string& text) {
  for (int i = 0; i < kNumModalities; ++i)
    if (text == kModalityNames[i]) return static_cast<Modality>(i);
  const std::vector<std::string> names(std::begin(kModalityNames), std::end(kModalityNames));
  throw InputError(fmt::format("--modalities: unknown modality '{}'{} (choose from {})", text,
                               did_you_mean(text, names), fmt::join(kModalityNames, ", ")));
}

std::string to_string(const Combination& c) {
  std::vector<std::string> names;
  for (Modality m : c) names.push_back(to_string(m));
  return fmt::format("{}", fmt::join(names, "+"));
}

std::vector<Combination> parse_combinations(const std::string& text,
                                            const std::vector<Modality>& available) {
  std::vector<Combination> out;
  auto add = [&](Combination c) {
    std::sort(c.begin(), c.end());
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(std::move(c));
  };
  if (trim(text) == "all") {
    std::vector<Modality> mods = available;
    std::sort(mods.begin(), mods.end());
    const unsigned n = static_cast<unsigned>(mods.size());
    // Smaller combinations first, then in modality order: the order researchers read tables in.
    for (unsigned size = 1; size <= n; ++size)
      for (unsigned mask = 1; mask < (1U << n); ++mask) {
        if (static_cast<unsigned>(__builtin_popcount(mask)) != size) continue;
        Combination c;
        for (unsigned i = 0; i < n; ++i)
          if ((mask >> i) & 1U) c.push_back(mods[i]);
        add(c);
      }
    return out;
  }
  for (const std::string& combo : split(text, ',')) {
    if (combo.empty())
      throw InputError(fmt::format("--modalities: empty combination in '{}'", text));
    Combination c;
    for (const std::string& name : split(combo, '+')) {
      const Modality m = parse_modality(name);
      if (std::find(c.begin(), c.end(), m) != c.end())
        throw InputError(fmt::format("--modalities: '{}' lists {} twice", combo, name));
      if (std::find(available.begin(), available.end(), m) == available.end())
        throw InputError(
            fmt::format("--modalities: '{}' is not available for this data (available: {})", name,
                        to_string(available)));
      c.push_back(m);
    }
    add(c);
  }
  return out;
}

std::vector<Combination> sub_combinations(const Combination& c) {
  std::vector<Combination> out;
  const unsigned n = static_cast<unsigned>(c.size());
  for (unsigned mask = 1; mask + 1 < (1U << n); ++mask) {
    Combination sub;
    for (unsigned i = 0; i < n; ++i)
      if ((mask >> i) & 1U) sub.push_back(c[i]);
    out.push_back(std::move(sub));
  }
  return out;
}

}  // namespace woundphase
