// Synthetic DFU cohort: patients with 1-3 wounds seen over several visits, a healing phase that
// mostly progresses I -> P -> R, and metadata whose dependence on the phase scales with `signal`.
// Value sets, ranges and missing rates follow the real study's file (cohort_model.h); no real row
// is used.
#include <algorithm>  // for clamp
#include <array>
#include <charconv>    // for to_chars
#include <cmath>       // for round, log, exp, sqrt, cos
#include <cstdint>     // for uint64_t
#include <filesystem>  // for create_directories, rename
#include <fstream>     // for ofstream
#include <string>
#include <system_error>  // for error_code
#include <vector>

#include "synth/cohort_model.h"
#include "woundphase/core.h"  // for InputError, mix_seed
#include "woundphase/synth.h"

namespace woundphase {

namespace {

namespace fs = std::filesystem;
using namespace synth_internal;  // the model's tables (cohort_model.h)

// ---- Formatting --------------------------------------------------------------------------------
// Fixed-point with at most `decimals` decimals, trailing zeros dropped ("30.8", "118.4", "0").
std::string number(double value, int decimals) {
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed, decimals);
  std::string text(buffer, result.ptr);
  if (text.find('.') != std::string::npos) {
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
  }
  if (text == "-0") text = "0";
  return text;
}
std::string integer(long value) { return std::to_string(value); }
std::string flag(bool value) { return value ? "1" : "0"; }

double round_to(double value, double step) { return std::round(value / step) * step; }

void write_field(std::ostream& out, const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) {
    out << field;
    return;
  }
  out << '"';
  for (char ch : field) {
    if (ch == '"') out << '"';
    out << ch;
  }
  out << '"';
}

void write_row(std::ostream& out, const Row& row) {
  for (size_t c = 0; c < row.size(); ++c) {
    if (c > 0) out << ',';
    write_field(out, row[c]);
  }
  out << kLineEnd;
}

// ---- Generation --------------------------------------------------------------------------------
// Per-wound habits that persist over visits.
struct WoundHabits {
  int dressing = 0;
  bool no_offloading = false;
  std::array<bool, 5> offloading{};
};

void draw_offloading(Rng& rng, WoundHabits& habits) {
  habits.no_offloading = rng.chance(kNoOffloadingShare);
  bool any = false;
  for (size_t k = 0; k < habits.offloading.size(); ++k) {
    habits.offloading[k] = !habits.no_offloading && rng.chance(kOffloadingShare[k]);
    any = any || habits.offloading[k];
  }
  if (!habits.no_offloading && !any) habits.offloading[0] = true;  // at least footwear
}

// Writes the binary flags `columns` from `shares` and returns how many are set; blank when missing.
template <size_t N>
int flags(Rng& rng, Row& row, const std::array<int, N>& columns,
          const std::array<double, N>& shares, bool missing) {
  int set = 0;
  for (size_t i = 0; i < N; ++i) {
    const bool on = rng.chance(shares[i]);
    if (missing) continue;
    row[columns[i]] = flag(on);
    set += on ? 1 : 0;
  }
  return set;
}

void fill_patient(Rng& rng, Row& row) {
  const bool age_missing = rng.chance(kMissingAge);
  const double age = std::clamp(std::round(rng.normal(kAgeMean, kAgeSd)), kMinAge, kMaxAge);
  if (!age_missing) row[col::kAge] = integer(static_cast<long>(age));
  row[col::kSex] = rng.chance(kMaleShare) ? "M" : "F";
  const bool weight_missing = rng.chance(kMissingWeight);
  const double weight = std::clamp(rng.normal(kWeightMean, kWeightSd), kMinWeight, kMaxWeight);
  if (!weight_missing) row[col::kWeight] = number(round_to(weight, 0.1), 1);
  const bool height_missing = rng.chance(kMissingHeight);
  const double height = std::clamp(rng.normal(kHeightMean, kHeightSd), kMinHeight, kMaxHeight);
  const bool inches = rng.chance(kHeightInInches);
  if (!height_missing)
    row[col::kHeight] = inches ? number(std::round(height / kCmPerInch) * kCmPerInch, 2)
                               : integer(static_cast<long>(std::round(height)));

  const bool smoking_missing = rng.chance(kMissingSmoking);
  const int smoking = kSmoking[rng.choose(kSmokingShare)];
  const int alcohol = rng.choose(kAlcoholShare);
  if (!smoking_missing) row[col::kSmoking] = integer(smoking);
  row[col::kAlcohol] = integer(alcohol);
  if (!smoking_missing) row[col::kHabitsScore] = integer(smoking + alcohol);

  const bool diabetes_missing = rng.chance(kMissingDiabetes);
  const int diabetes = rng.chance(kType1DiabetesShare) ? 1 : 2;
  const bool heart_missing = rng.chance(kMissingHeart);
  const bool heart = rng.chance(kHeartShare);
  const bool cancer_missing = rng.chance(kMissingCancer);
  const bool cancer = rng.chance(kCancerShare);
  const bool sensory_missing = rng.chance(kMissingSensory);
  const bool sensory = rng.chance(kSensoryShare);
  if (!diabetes_missing) row[col::kDiabetesType] = integer(diabetes);
  if (!heart_missing) row[col::kHeart] = flag(heart);
  if (!cancer_missing) row[col::kCancer] = flag(cancer);
  if (!sensory_missing) row[col::kSensory] = flag(sensory);
  if (!diabetes_missing && !heart_missing && !cancer_missing && !sensory_missing)
    row[col::kClinicalScore] = integer(diabetes + heart + cancer + sensory);

  const bool toes_missing = rng.chance(kMissingToes);
  const int toes = flags(rng, row, std::array<int, 3>{col::kBunion, col::kClaw, col::kHammer},
                         kToeShare, toes_missing);
  if (!toes_missing) row[col::kNoToeDeformities] = flag(toes == 0);
  // Arch findings are blank whenever toe findings are (one foot examination), and a little more.
  const bool arch_missing = toes_missing || rng.chance(kMissingArchOnly);
  const bool charcot = rng.chance(kArchShare[0]);
  const bool flat = rng.chance(kArchShare[1]);
  const bool high = !flat && rng.chance(kArchShare[2]);  // a foot is flat or high, not both
  if (!arch_missing) {
    row[col::kCharcot] = flag(charcot);
    row[col::kFlatArch] = flag(flat);
    row[col::kHighArch] = flag(high);
    const int arch = charcot + flat + high;
    row[col::kNoArchDeformities] = flag(arch == 0);
    row[col::kFootScore] = integer(toes + arch);  // toe findings are present here
  }

  const bool leg_missing = rng.chance(kMissingLeg);
  const int leg = flags(rng, row,
                        std::array<int, 6>{col::kHairLoss, col::kDrySkin, col::kFissures,
                                           col::kCallus, col::kThickenedToenail, col::kFungalNails},
                        kLegShare, leg_missing);
  if (!leg_missing) {
    row[col::kNoFootAbnormalities] = flag(leg == 0);
    row[col::kLegScore] = integer(leg);
  }
}

// Fills the wound's columns; returns the wound's onset in days before the first visit (-1 = blank).
long fill_wound(Rng& rng, Row& row, int dfu) {
  row[col::kDfu] = integer(dfu);
  row[col::kSide] = rng.chance(kLeftShare) ? "Left" : "Right";
  const auto& aspect = rng.pick(kFootAspects);
  row[col::kFootAspect] = aspect.text;
  const std::string aspect_name = aspect.text;
  const Choice& location = aspect_name == "Plantar"  ? rng.pick(kPlantarLocations)
                           : aspect_name == "Dorsal" ? rng.pick(kDorsalLocations)
                           : aspect_name == "Medial" ? rng.pick(kMedialLocations)
                                                     : rng.pick(kLateralLocations);
  if (!rng.chance(kMissingLocation)) row[col::kLocation] = location.text;
  row[col::kLocationGrouped] = location.group;
  const bool onset_missing = rng.chance(kMissingOnset);
  const double onset =
      std::clamp(std::round(std::exp(rng.normal(std::log(kOnsetMedianDays), kOnsetLogSd))), 0.0,
                 kMaxOnsetDays);
  return onset_missing ? -1 : static_cast<long>(onset);
}

int next_phase(Rng& rng, int previous, double signal) {
  if (!rng.chance(signal)) return rng.choose(kPhaseShare);
  return previous < 0 ? rng.choose(kFirstPhase) : rng.choose(kTransition[previous]);
}

template <typename Cuts>
int ordinal(double latent, const Cuts& cuts) {
  int level = 0;
  for (double cut : cuts) level += latent >= cut ? 1 : 0;
  return level;
}

void fill_temperatures(Rng& rng, Row& row, int phase, double signal, double skin_baseline) {
  const bool missing = rng.chance(kMissingTemperatures);
  const double intact = round_to(
      std::clamp(rng.normal(skin_baseline, kSkinTempVisitSd), kMinSkinTemp, kMaxSkinTemp), 0.1);
  const double wound = round_to(
      std::clamp(
          intact + rng.normal(kWoundTempOffset + signal * kWoundTempShift[phase], kWoundTempNoise),
          kMinTemp, kMaxTemp),
      0.1);
  const double peri = round_to(
      std::clamp(
          intact + rng.normal(kPeriTempOffset + signal * kPeriTempShift[phase], kPeriTempNoise),
          kMinTemp, kMaxTemp),
      0.1);
  if (missing) return;
  row[col::kWoundTemp] = number(wound, 1);
  row[col::kPeriTemp] = number(peri, 1);
  row[col::kIntactTemp] = number(intact, 1);
  // The study normalises by the intact skin: (t - intact) / intact.
  row[col::kWoundTempNormalised] = number((wound - intact) / intact, 5);
  row[col::kPeriTempNormalised] = number((peri - intact) / intact, 5);
}

void fill_pain(Rng& rng, Row& row, int phase, double signal) {
  const bool missing = rng.chance(kMissingPain);
  const bool pain = rng.chance(kPainShare + signal * kPainShift[phase]);
  const int level = 1 + rng.below(kMaxPainLevel);
  const PainType& type = rng.pick(kPainTypes);
  const bool second = rng.chance(kPainType2Kept);
  if (missing) return;
  if (!pain) {
    row[col::kPainLevel] = "0";
    row[col::kPainType] = "0";
    row[col::kPainTypeGrouped] = "NoPain";
    return;
  }
  row[col::kPainLevel] = integer(level);
  row[col::kPainType] = type.text;
  row[col::kPainTypeGrouped] = type.group;
  if (second) {
    row[col::kPainType2] = type.text;
    row[col::kPainTypeGrouped2] = type.group2;
  }
}

void fill_wound_state(Rng& rng, Row& row, int phase, double signal) {
  const bool tunneling_missing = rng.chance(kMissingTunneling);
  const int tunneling = ordinal(rng.normal(signal * kTunnelingShift[phase], 1.0), kTunnelingCuts);
  if (!tunneling_missing) row[col::kTunneling] = integer(tunneling);

  const bool exudate_missing = rng.chance(kMissingExudate);
  const int exudate = ordinal(rng.normal(signal * kExudateShift[phase], 1.0), kExudateCuts);
  if (!exudate_missing) row[col::kExudateAmount] = integer(exudate);
  const bool appearance_missing =
      rng.chance(kAppearanceMissing + signal * kAppearanceMissingShift[phase]);
  auto appearance_share = kAppearanceShare;
  appearance_share[0] -= signal * kBloodyShift[phase];  // serous
  appearance_share[2] += signal * kBloodyShift[phase];  // bloody
  const int appearance = rng.choose(appearance_share);
  if (!appearance_missing) row[col::kExudateAppearance] = kAppearances[appearance];

  const bool odor_missing = rng.chance(kMissingOdor);
  const bool odor = rng.chance(kOdorShare + signal * kOdorShift[phase]);
  if (!odor_missing) row[col::kOdor] = odor ? "Unpleasant" : "NoOdor";

  const bool peri_missing = rng.chance(kMissingPeriUlcer);
  const std::array<double, 4> peri_share = {kErythemaShare + signal * kErythemaShift[phase],
                                            kEdemaShare + signal * kEdemaShift[phase], kPaleShare,
                                            kMacerationShare};
  const int conditions = flags(
      rng, row, std::array<int, 4>{col::kErythema, col::kEdema, col::kPaleColour, col::kMaceration},
      peri_share, peri_missing);
  const bool other_condition = rng.chance(kOtherPeriConditionShare);
  if (!peri_missing) {
    row[col::kNoPeriUlcerConditions] = flag(conditions == 0 && !other_condition);
    row[col::kWoundScore] = integer(conditions);
  }
}

void fill_care(Rng& rng, Row& row, WoundHabits& habits) {
  const bool dressing_missing = rng.chance(kMissingDressing);
  if (!rng.chance(kKeepDressing)) {
    std::vector<double> weights;
    for (const auto& d : kDressings) weights.push_back(d.weight);
    habits.dressing = rng.choose(weights);
  }
  if (!dressing_missing) {
    row[col::kDressing] = kDressings[habits.dressing].text;
    row[col::kDressingGrouped] = kDressings[habits.dressing].group;
  }
  const bool offloading_missing = rng.chance(kMissingOffloading);
  if (!rng.chance(kKeepOffloading)) draw_offloading(rng, habits);
  if (offloading_missing) return;
  constexpr std::array<int, 5> kColumns = {col::kFootwear, col::kScotcast, col::kHalfShoes,
                                           col::kContactCast, col::kCrutches};
  int score = 0;
  for (size_t k = 0; k < kColumns.size(); ++k) {
    row[kColumns[k]] = flag(habits.offloading[k]);
    score += habits.offloading[k] ? 1 : 0;
  }
  row[col::kNoOffloading] = flag(habits.no_offloading);
  row[col::kOffloadingScore] = integer(score);
}

void fill_phase(Rng& rng, Row& row, int phase) {
  row[col::kHealingPhase] = kPhaseVariant[phase][rng.choose(kPhaseVariantShare[phase])];
  const bool confidence_missing = rng.chance(kMissingConfidence);
  const int confidence = kConfidence[rng.choose(kConfidenceShare[phase])];
  if (!confidence_missing) row[col::kPhaseConfidence] = integer(confidence);
  row[col::kHealingPhaseAbs] = kPhaseLetter[phase];
}

// One patient's rows (wound by wound, visit by visit). Each patient draws from its own stream, so
// patient n is the same whatever the cohort size.
void write_patient(std::ostream& out, int patient, const SynthSettings& settings, long& next_id,
                   SynthSummary& summary) {
  Rng rng(mix_seed(settings.seed, static_cast<uint64_t>(patient)));
  Row base;
  base[col::kPatient] = integer(patient);
  fill_patient(rng, base);
  const int wounds = 1 + rng.choose(kWoundsShare);
  base[col::kNumberOfDfus] = integer(wounds);

  const int visits = kVisits[rng.choose(kVisitsShare)];
  std::vector<long> days(visits, 0);
  for (int v = 1; v < visits; ++v) {
    long gap = kDaysPerWeek * kGapWeeks[rng.choose(kGapWeeksShare)];
    if (rng.chance(kGapJitter)) gap = std::max(1L, gap + rng.below(7) - 3);
    days[v] = days[v - 1] + gap;
  }
  const double skin_baseline = rng.normal(kSkinTempMean, kSkinTempPatientSd);

  for (int w = 0; w < wounds; ++w) {
    Row wound_row = base;
    const long onset = fill_wound(rng, wound_row, w + 1);
    const int first = (w > 0 && rng.chance(kLaterWound)) ? rng.below(visits) : 0;
    WoundHabits habits;
    {
      std::vector<double> weights;
      for (const auto& d : kDressings) weights.push_back(d.weight);
      habits.dressing = rng.choose(weights);
    }
    draw_offloading(rng, habits);
    int phase = -1;
    for (int v = first; v < visits; ++v) {
      phase = next_phase(rng, v == first ? -1 : phase, settings.signal);
      Row row = wound_row;
      row[col::kId] = integer(next_id++);
      row[col::kAppt] = integer(v);
      row[col::kApptDays] = integer(days[v]);
      if (onset >= 0) {
        const double shift = std::round(settings.signal * kOnsetShift[phase]);
        row[col::kOnset] = integer(std::max(0L, onset + days[v] + static_cast<long>(shift)));
      }
      fill_temperatures(rng, row, phase, settings.signal, skin_baseline);
      fill_pain(rng, row, phase, settings.signal);
      fill_wound_state(rng, row, phase, settings.signal);
      fill_care(rng, row, habits);
      fill_phase(rng, row, phase);
      write_row(out, row);
      ++summary.rows;
      ++summary.class_counts[phase];
    }
  }
}

}  // namespace

SynthSummary write_synthetic_cohort(const std::string& out_dir, const SynthSettings& settings) {
  settings.validate();
  const fs::path dir(out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError("cannot create folder " + out_dir + ": " + ec.message());
  const fs::path target = dir / settings.metadata_file;
  const fs::path temp = dir / (settings.metadata_file + kTempSuffix);

  SynthSummary summary;
  summary.patients = settings.patients;
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError("cannot write " + temp.string());
    out << kBom << kHeader << kLineEnd;
    long next_id = 1;
    for (int p = 1; p <= settings.patients; ++p) write_patient(out, p, settings, next_id, summary);
    out.flush();
    if (!out) {
      out.close();
      fs::remove(temp, ec);
      throw InputError("cannot write " + temp.string() + " (disk full?)");
    }
  }
  fs::rename(temp, target, ec);
  if (ec) {
    const std::string reason = ec.message();
    fs::remove(temp, ec);
    throw InputError("cannot rename " + temp.string() + " to " + target.string() + ": " + reason);
  }
  return summary;
}

}  // namespace woundphase
