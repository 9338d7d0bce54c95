// degraded.csv: what a fused combination is worth when some of its images are missing. For every
// fused combination and each of its sub-combinations the search also evaluated, per (run, fold),
// the QWK of both on the same visit-wounds: the fused combination's test rows. The
// sub-combination's model in a search fold is exactly what a bundle falls back to for a
// visit-wound lacking the other modalities (the same branches, and the sub-combination's own head).
#include <fmt/format.h>

#include <algorithm>  // for find
#include <map>
#include <tuple>

#include "woundphase/files.h"
#include "woundphase/metrics.h"
#include "woundphase/search.h"

namespace woundphase {
namespace {

std::string num(double v) { return fmt::format("{:.6f}", v); }

// The modality names of a combination's '+'-joined name.
std::vector<std::string> parts(const std::string& name) {
  std::vector<std::string> out;
  size_t begin = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '+') continue;
    out.push_back(name.substr(begin, i - begin));
    begin = i + 1;
  }
  return out;
}

bool is_proper_subset(const std::string& sub, const std::string& of) {
  const auto a = parts(sub);
  const auto b = parts(of);
  if (a.size() >= b.size()) return false;
  for (const auto& m : a)
    if (std::find(b.begin(), b.end(), m) == b.end()) return false;
  return true;
}

}  // namespace

void write_degraded_csv(const Dataset& data, const SearchResult& result, const std::string& path) {
  // (run, fold, modalities) -> row -> predicted class
  std::map<std::tuple<int, int, std::string>, std::map<int, int>> pred;
  std::vector<std::string> names;
  for (const PredictionRow& p : result.predictions) {
    pred[{p.run, p.fold, p.modalities}][p.row] = p.pred;
    if (std::find(names.begin(), names.end(), p.modalities) == names.end())
      names.push_back(p.modalities);
  }
  std::string out = "run,fold,modalities,used,n,qwk_used,qwk_all\n";
  for (const std::string& full : names) {
    if (full == kEnsembleName || parts(full).size() < 2) continue;
    for (const std::string& sub : names) {
      if (sub == kEnsembleName || !is_proper_subset(sub, full)) continue;
      for (const auto& [key, rows] : pred) {
        const auto& [run, fold, name] = key;
        if (name != full) continue;
        const auto it = pred.find({run, fold, sub});
        if (it == pred.end()) continue;
        std::vector<int> truth, with_all, with_sub;
        for (const auto& [row, p] : rows) {
          const auto s = it->second.find(row);
          if (s == it->second.end()) continue;  // cannot happen: fewer modalities, more rows
          truth.push_back(data.rows[row].label);
          with_all.push_back(p);
          with_sub.push_back(s->second);
        }
        out += fmt::format("{},{},{},{},{},{},{}\n", run, fold, full, sub, truth.size(),
                           num(score(truth, with_sub).qwk), num(score(truth, with_all).qwk));
      }
    }
  }
  write_file_atomically(path, out);
}

}  // namespace woundphase
