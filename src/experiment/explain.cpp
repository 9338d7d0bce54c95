// The metadata branch's explanations and explanations.csv.
#include "woundphase/explain.h"

#include <fmt/format.h>

#include <cmath>  // for isnan, lround

#include "woundphase/files.h"
#include "woundphase/metadata_branch.h"

namespace woundphase {

std::string TabularExplanation::value_text(size_t i, size_t f) const {
  const float v = x.at(i, f);
  if (is_missing(v)) return "";
  const FeatureInfo& info = features[f];
  if (info.kind == FeatureKind::kCategorical) {
    const long code = std::lround(v);
    if (code >= 0 && static_cast<size_t>(code) < info.categories.size())
      return info.categories[static_cast<size_t>(code)];
  }
  return fmt::format("{}", v);  // the shortest text that reads back as the same float
}

TabularExplanation explain_metadata(const MetadataModel& model, const Dataset& data,
                                    const std::vector<int>& rows) {
  TabularExplanation e;
  e.rows = rows;
  e.features = model.encoder.features();
  e.x = model.encoder.transform(data, rows);
  e.contributions = model.model->contributions(e.x);
  return e;
}

void write_explanations_csv(const Schema& schema, const Dataset& data, const TabularExplanation& e,
                            const std::string& path) {
  std::string out = "patient,appt,dfu,class,feature,value,contribution\n";
  const Contributions& c = e.contributions;
  for (size_t i = 0; i < e.rows.size(); ++i) {
    const VisitWound& vw = data.rows[e.rows[i]];
    const std::string key =
        fmt::format("{},{},{}", csv_field(data.patients[vw.patient]), vw.appt, vw.dfu);
    for (int cl = 0; cl < kNumClasses; ++cl) {
      const std::string& label = schema.class_labels[cl];
      out += fmt::format("{},{},{},,{:.9g}\n", key, csv_field(label), kBaseFeature, c.base(i, cl));
      for (size_t f = 0; f < c.features; ++f)
        out += fmt::format("{},{},{},{},{:.9g}\n", key, csv_field(label),
                           csv_field(e.features[f].name), csv_field(e.value_text(i, f)),
                           c.at(i, cl, f));
    }
  }
  write_file_atomically(path, out);
}

}  // namespace woundphase
