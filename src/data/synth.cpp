// Synthetic DFU cohort: patients with 1-3 wounds seen over several visits, a healing phase that
// mostly progresses I -> P -> R, and metadata whose dependence on the phase scales with `signal`.
// Value sets, ranges and missing rates follow the real study's file; no real row is used.
#include "woundphase/synth.h"

#include <algorithm>  // for clamp
#include <array>
#include <charconv>    // for to_chars
#include <cmath>       // for round, log, exp, sqrt, cos
#include <cstdint>     // for uint64_t
#include <filesystem>  // for create_directories, rename
#include <fstream>     // for ofstream
#include <random>      // for mt19937_64
#include <string>
#include <system_error>  // for error_code
#include <vector>

#include "woundphase/core.h"  // for InputError, mix_seed
#include "woundphase/options.h"

namespace woundphase {

namespace {

namespace fs = std::filesystem;

// The study's header line, byte for byte (without the BOM): 72 columns.
constexpr char kHeader[] =
    "ID,Patient#,Age,\"Sex (F:0, M:1)\",Weight (Kg),Height (cm),Smoking,"
    "Alcohol Consumption,Habits Score,Type of Diabetes,Heart Conditions,Cancer History,"
    "Sensory Peripheral,Clinical Score,Number of DFUs,DFU#,\"Side (Left:0, Right:1)\","
    "Foot Aspect,Location,\"Location Grouped (Hallux:1,Toes,Middle,Heel,Ankle:5)\","
    "Onset (Days),No Toes Deformities,Bunion,Claw,Hammer,Charcot Arthropathy,"
    "Flat (Pes Planus) Arch,Abnormally High Arch,No Arch Deformities,Foot Score,Appt#,"
    "Appt Days,Wound Centre Temperature (°C),Peri-Ulcer Temperature (°C),"
    "Intact Skin Temperature (°C),Wound Centre Temperature Normalized (°C),"
    "Peri-Ulcer Temperature Normalized (°C),Pain Level,Type of Pain,Type of Pain Grouped,"
    "Type of Pain2,Type of Pain_Grouped2,Wound Tunneling,"
    "\"Exudate Amount (None:0,Minor,Medium,Severe:3)\","
    "\"Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)\",Odor,"
    "\"No Peri-ulcer Conditions (False:0, True:1)\",Erythema at Peri-ulcer,"
    "Edema at Peri-ulcer,Pale Colour at Peri-ulcer,Maceration at Peri-ulcer,Wound Score,"
    "Dressing,Dressing Grouped,No Foot Abnormalities,Foot Hair Loss,Foot Dry Skin,"
    "Foot Fissure Cracks,Foot Callus,Thickened Toenail,Foot Fungal Nails,Leg Score,"
    "No Offloading,Offloading: Therapeutic Footwear,Offloading: Scotcast Boot or RCW,"
    "Offloading: Half Shoes or Sandals,Offloading: Total Contact Cast,"
    "\"Offloading: Crutches, Walkers or Wheelchairs\",Offloading Score,Healing Phase,"
    "Phase Confidence (%),Healing Phase Abs";

// Column positions in kHeader.
namespace col {
enum : int {
  kId,
  kPatient,
  kAge,
  kSex,
  kWeight,
  kHeight,
  kSmoking,
  kAlcohol,
  kHabitsScore,
  kDiabetesType,
  kHeart,
  kCancer,
  kSensory,
  kClinicalScore,
  kNumberOfDfus,
  kDfu,
  kSide,
  kFootAspect,
  kLocation,
  kLocationGrouped,
  kOnset,
  kNoToeDeformities,
  kBunion,
  kClaw,
  kHammer,
  kCharcot,
  kFlatArch,
  kHighArch,
  kNoArchDeformities,
  kFootScore,
  kAppt,
  kApptDays,
  kWoundTemp,
  kPeriTemp,
  kIntactTemp,
  kWoundTempNormalised,
  kPeriTempNormalised,
  kPainLevel,
  kPainType,
  kPainTypeGrouped,
  kPainType2,
  kPainTypeGrouped2,
  kTunneling,
  kExudateAmount,
  kExudateAppearance,
  kOdor,
  kNoPeriUlcerConditions,
  kErythema,
  kEdema,
  kPaleColour,
  kMaceration,
  kWoundScore,
  kDressing,
  kDressingGrouped,
  kNoFootAbnormalities,
  kHairLoss,
  kDrySkin,
  kFissures,
  kCallus,
  kThickenedToenail,
  kFungalNails,
  kLegScore,
  kNoOffloading,
  kFootwear,
  kScotcast,
  kHalfShoes,
  kContactCast,
  kCrutches,
  kOffloadingScore,
  kHealingPhase,
  kPhaseConfidence,
  kHealingPhaseAbs,
  kCount
};
}  // namespace col

constexpr int count_fields(const char* text) {
  int fields = 1;
  bool quoted = false;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p == '"') quoted = !quoted;
    if (*p == ',' && !quoted) ++fields;
  }
  return fields;
}
static_assert(count_fields(kHeader) == col::kCount, "column positions must match the header");

using Row = std::array<std::string, col::kCount>;

// Bounds of SynthSettings.
constexpr int kMinPatients = 3;
constexpr int kMaxPatients = 100000;
constexpr double kMinImageScale = 0.02;
constexpr double kMaxImageScale = 1.0;
constexpr int kMaxThreads = 256;

constexpr char kBom[] = "\xEF\xBB\xBF";
constexpr char kLineEnd[] = "\r\n";
constexpr char kTempSuffix[] = ".tmp";

// ---- Phase model -------------------------------------------------------------------------------
enum Phase : int { kInflammatory = 0, kProliferative = 1, kRemodeling = 2 };
constexpr std::array<const char*, kNumClasses> kPhaseLetter = {"I", "P", "R"};
using PerPhase = std::array<double, kNumClasses>;

// Phase mix of a visit drawn without progression (the share at signal 0): the real cohort's.
constexpr PerPhase kPhaseShare = {0.31, 0.56, 0.13};
// A wound's phase at its first visit, and visit-to-visit transitions [from][to]: the real cohort's
// transitions, nudged so the overall mix over the visit schedule below matches kPhaseShare.
constexpr PerPhase kFirstPhase = {0.43, 0.48, 0.09};
constexpr std::array<PerPhase, kNumClasses> kTransition = {{
    {0.52, 0.45, 0.03},
    {0.12, 0.77, 0.11},
    {0.08, 0.34, 0.58},
}};
// Suffixes of `Healing Phase` per phase ("I+", "I", "I-", ...) and their shares.
constexpr std::array<std::array<const char*, 3>, kNumClasses> kPhaseVariant = {{
    {"I+", "I", "I-"},
    {"P", "P-", "P+"},
    {"R-", "R", "R+"},
}};
constexpr std::array<PerPhase, kNumClasses> kPhaseVariantShare = {{
    {0.50, 0.45, 0.05},
    {0.50, 0.29, 0.21},
    {0.39, 0.39, 0.22},
}};
// Phase Confidence (%) values; remodeling calls are the most confident, as in the real file.
constexpr std::array<int, 9> kConfidence = {50, 60, 65, 70, 75, 80, 85, 90, 100};
constexpr std::array<std::array<double, 9>, kNumClasses> kConfidenceShare = {{
    {0.01, 0.07, 0.04, 0.06, 0.30, 0.39, 0.10, 0.03, 0.00},
    {0.00, 0.02, 0.01, 0.03, 0.30, 0.40, 0.19, 0.05, 0.00},
    {0.00, 0.00, 0.00, 0.02, 0.10, 0.30, 0.33, 0.15, 0.10},
}};

// Phase effects on the visit's features, each multiplied by SynthSettings::signal.
constexpr PerPhase kWoundTempShift = {0.8, 0.0, -1.5};  // °C, wound centre minus intact skin
constexpr PerPhase kPeriTempShift = {0.5, 0.0, -0.9};   // °C, peri-ulcer minus intact skin
constexpr PerPhase kPainShift = {0.08, 0.0, -0.08};     // probability of any pain
constexpr PerPhase kTunnelingShift = {0.5, 0.0, -0.8};  // latent score, in standard deviations
constexpr PerPhase kExudateShift = {0.35, 0.05, -0.6};  // latent score, in standard deviations
constexpr PerPhase kAppearanceMissingShift = {-0.08, -0.02, 0.30};  // probability
constexpr PerPhase kBloodyShift = {0.10, 0.0, -0.20};    // probability moved from serous to bloody
constexpr PerPhase kOdorShift = {0.03, 0.0, -0.03};      // probability
constexpr PerPhase kErythemaShift = {0.07, 0.0, -0.09};  // probability
constexpr PerPhase kEdemaShift = {0.03, 0.02, -0.12};    // probability
constexpr PerPhase kOnsetShift = {-40, 0, 120};          // days: remodeling wounds are older

// Baseline (phase-free) feature distributions.
constexpr double kWoundTempOffset = -0.4;  // °C, mean wound centre minus intact skin
constexpr double kWoundTempNoise = 2.0;
constexpr double kPeriTempOffset = -0.1;
constexpr double kPeriTempNoise = 1.5;
constexpr double kSkinTempMean = 30.1;  // °C, a patient's typical intact skin temperature
constexpr double kSkinTempPatientSd = 1.8;
constexpr double kSkinTempVisitSd = 1.5;
constexpr double kMinSkinTemp = 14.0;
constexpr double kMaxSkinTemp = 38.8;
constexpr double kMinTemp = 12.4;
constexpr double kMaxTemp = 39.9;
constexpr double kPainShare = 0.19;
constexpr int kMaxPainLevel = 5;
constexpr std::array<double, 3> kTunnelingCuts = {0.84, 1.75, 2.4};  // latent -> 0, 1, 2, 3
constexpr std::array<double, 2> kExudateCuts = {-0.55, 0.95};        // latent -> 0, 1, 2
constexpr double kAppearanceMissing = 0.20;
constexpr double kOdorShare = 0.04;
constexpr double kErythemaShare = 0.14;
constexpr double kEdemaShare = 0.26;
constexpr double kPaleShare = 0.13;
constexpr double kMacerationShare = 0.13;
constexpr double kOtherPeriConditionShare = 0.12;  // conditions without a column of their own
constexpr double kKeepDressing = 0.85;             // a visit keeps the wound's usual dressing
constexpr double kKeepOffloading = 0.90;

// Missing rates (blank cells), by block of columns recorded together.
constexpr double kMissingAge = 0.001;
constexpr double kMissingWeight = 0.037;
constexpr double kMissingHeight = 0.029;
constexpr double kMissingSmoking = 0.003;
constexpr double kMissingDiabetes = 0.042;
constexpr double kMissingHeart = 0.004;
constexpr double kMissingCancer = 0.001;
constexpr double kMissingSensory = 0.023;
constexpr double kMissingToes = 0.045;
constexpr double kMissingArchOnly = 0.019;
constexpr double kMissingLeg = 0.030;
constexpr double kMissingLocation = 0.001;
constexpr double kMissingOnset = 0.053;
constexpr double kMissingTemperatures = 0.052;
constexpr double kMissingPain = 0.006;
constexpr double kMissingTunneling = 0.017;
constexpr double kMissingExudate = 0.024;
constexpr double kMissingOdor = 0.023;
constexpr double kMissingPeriUlcer = 0.020;
constexpr double kMissingDressing = 0.020;
constexpr double kMissingOffloading = 0.010;
constexpr double kMissingConfidence = 0.042;
constexpr double kPainType2Kept =
    0.97;  // Type of Pain2 repeats Type of Pain for most painful visits

// ---- Cohort shape ------------------------------------------------------------------------------
constexpr std::array<double, 3> kWoundsShare = {0.80, 0.17, 0.03};  // 1, 2, 3 wounds
constexpr double kLaterWound = 0.30;  // a second/third wound first seen at a later visit
constexpr std::array<int, 12> kVisits = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14};
constexpr std::array<double, 12> kVisitsShare = {40, 20, 15, 9, 7, 3, 2, 1.5, 1, 1, 0.5, 0.3};
constexpr std::array<int, 13> kGapWeeks = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
constexpr std::array<double, 13> kGapWeeksShare = {36, 99, 59, 59, 29, 29, 19, 14, 8, 6, 4, 3, 5};
constexpr double kGapJitter = 0.10;  // a visit moved by up to 3 days
constexpr int kDaysPerWeek = 7;
constexpr double kOnsetMedianDays = 200;
constexpr double kOnsetLogSd = 1.3;
constexpr double kMaxOnsetDays = 7000;

// ---- Value sets --------------------------------------------------------------------------------
struct Choice {
  const char* text;
  const char* group;
  double weight;
};
struct PainType {
  const char* text;
  const char* group;
  const char* group2;  // Type of Pain_Grouped2 uses its own grouping and spelling
  double weight;
};

constexpr std::array<Choice, 4> kFootAspects = {
    {{"Plantar", "", 87.2}, {"Dorsal", "", 11.2}, {"Medial", "", 1.1}, {"Lateral", "", 0.5}}};
constexpr std::array<Choice, 16> kPlantarLocations = {{
    {"sub 1st", "Hallux", 64},
    {"heel", "Heel", 40},
    {"2nd metatarsal", "toes", 30},
    {"Big Toe", "Hallux", 23},
    {"hallux", "Hallux", 20},
    {"lateral mid foot", "middle", 20},
    {"mid foot", "middle", 18},
    {"1st metatarsal", "Hallux", 15},
    {"Heel", "Heel", 13},
    {"sub 5th", "toes", 13},
    {"transmetatarsal 3rd,4th,5th thru to the middle of foot", "toes", 12},
    {"sub 3rd", "toes", 11},
    {"5th metatarsal", "toes", 10},
    {"sub 2nd", "toes", 10},
    {"medial arch", "middle", 5},
    {"Between 4th & 5th met", "toes", 7},
}};
constexpr std::array<Choice, 9> kDorsalLocations = {{
    {"above heel", "Heel", 8},
    {"Trans metatarsal", "toes", 6},
    {"medial ankle", "ankle", 5},
    {"Middle of Dorsal, lateral, blow ankle.", "ankle", 4},
    {"1st hallux", "Hallux", 4},
    {"medial side of foot", "middle", 4},
    {"Top of the foot near toes", "toes", 2},
    {"ankle", "ankle", 2},
    {"2nd toe", "toes", 3},
}};
constexpr std::array<Choice, 2> kMedialLocations = {
    {{"medial side of toe", "Hallux", 8}, {"medial side of hallux", "Hallux", 5}}};
constexpr std::array<Choice, 2> kLateralLocations = {
    {{"lateral on side of foot", "middle", 2}, {"lateral side of 5th", "toes", 1}}};
constexpr std::array<PainType, 14> kPainTypes = {{
    {"Frequent", "ChronicPain", "ChronicPain", 26},
    {"pressure pain", "PressureAndMovement", "PressureandMovement", 19},
    {"pinching/throbbing", "ThrobbingPain", "ThrobbingPain", 16},
    {"Calf", "LocalizedPain", "LocalizedPain", 5},
    {"ache", "GeneralAches", "GeneralAches", 6},
    {"pinching pain", "ThrobbingPain", "ThrobbingPain", 4},
    {"shooting pain", "ShootingPain", "SpecificTimes", 4},
    {"burn", "ShootingPain", "SpecificTimes", 3},
    {"constant pain", "ChronicPain", "ChronicPain", 3},
    {"Dull ache. Phantom ache sometimes", "PhantomAndUnusualSensations",
     "PhantomAndUnusualSensations", 2},
    {"nerve pain", "PhantomAndUnusualSensations", "LocalizedPain", 2},
    {"sharp pain", "SharpAndIntensePain", "SharpAndIntensePain", 3},
    {"pain with pressure near the wound", "PressureAndMovement", "PressureandMovement", 2},
    {"pressure pain, stabbing, constant pain", "ChronicPain", "ChronicPain", 1},
}};
constexpr std::array<Choice, 11> kDressings = {{
    {"Betadine", "Antiseptic", 540},
    {"Idosorb", "AbsorbentDressing", 48},
    {"0", "NoDressing", 33},
    {"polysporin", "Antiseptic", 16},
    {"vac", "AdvancedMethod", 14},
    {"Primapore", "BasicDressing", 11},
    {"Gauze", "BasicDressing", 6},
    {"Promogran", "AdvancedMethod", 5},
    {"bandaid", "BandAid", 4},
    {"aquacil", "AbsorbentDressing", 3},
    {"Other", "Other", 1},
}};
constexpr std::array<const char*, 4> kAppearances = {"Serous", "Haemoserous", "Bloody", "Thick"};
constexpr std::array<double, 4> kAppearanceShare = {0.38, 0.20, 0.40, 0.02};
// Offloading kinds in column order (footwear, cast boot, half shoes, contact cast, crutches).
constexpr double kNoOffloadingShare = 0.115;
constexpr std::array<double, 5> kOffloadingShare = {0.45, 0.27, 0.15, 0.03, 0.22};
// Patient-level shares.
constexpr double kMaleShare = 0.78;
constexpr double kAgeMean = 62;
constexpr double kAgeSd = 11.5;
constexpr double kMinAge = 27;
constexpr double kMaxAge = 93;
constexpr double kWeightMean = 97;
constexpr double kWeightSd = 26;
constexpr double kMinWeight = 50;
constexpr double kMaxWeight = 220;
constexpr double kHeightMean = 176.5;
constexpr double kHeightSd = 9.5;
constexpr double kMinHeight = 142;
constexpr double kMaxHeight = 196;
constexpr double kHeightInInches = 0.4;  // heights recorded in inches, converted (167.64)
constexpr double kCmPerInch = 2.54;
constexpr std::array<int, 3> kSmoking = {0, 2, 3};
constexpr std::array<double, 3> kSmokingShare = {0.87, 0.04, 0.09};
constexpr std::array<double, 4> kAlcoholShare = {0.74, 0.16, 0.06, 0.04};
constexpr double kType1DiabetesShare = 0.23;
constexpr double kHeartShare = 0.41;
constexpr double kCancerShare = 0.07;
constexpr double kSensoryShare = 0.83;
constexpr double kLeftShare = 0.52;
constexpr std::array<double, 3> kToeShare = {0.056, 0.13, 0.24};  // bunion, claw, hammer
constexpr std::array<double, 3> kArchShare = {0.12, 0.27,
                                              0.075};  // charcot, flat, high (if not flat)
constexpr std::array<double, 6> kLegShare = {0.117, 0.52, 0.15, 0.37, 0.17, 0.05};

// ---- Random numbers ----------------------------------------------------------------------------
// Own draws on top of mt19937_64 (whose output the standard fixes), so a seed gives the same
// cohort with every standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  double uniform() {                                     // [0, 1), 53 random bits
    constexpr double kScale = 1.0 / 9007199254740992.0;  // 2^-53
    return static_cast<double>(engine_() >> 11) * kScale;
  }
  bool chance(double p) { return uniform() < p; }
  int below(int n) {  // [0, n) by rejection
    const uint64_t bound = static_cast<uint64_t>(n);
    const uint64_t threshold = (0 - bound) % bound;
    for (;;) {
      const uint64_t r = engine_();
      if (r >= threshold) return static_cast<int>(r % bound);
    }
  }
  double normal(double mean, double sd) {  // Box-Muller
    constexpr double kTwoPi = 6.283185307179586;
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return mean + sd * std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
  }
  template <typename Weights>
  int choose(const Weights& weights) {  // index drawn with probability proportional to weight
    double total = 0.0;
    for (double w : weights) total += w;
    double u = uniform() * total;
    int last = 0;
    int i = 0;
    for (double w : weights) {
      if (w > 0.0) last = i;
      if (u < w) return i;
      u -= w;
      ++i;
    }
    return last;  // rounding at the very end of the range
  }
  template <typename Table>
  const auto& pick(const Table& table) {  // entry drawn by its `weight`
    std::vector<double> weights;
    weights.reserve(table.size());
    for (const auto& entry : table) weights.push_back(entry.weight);
    return table[choose(weights)];
  }

 private:
  std::mt19937_64 engine_;
};

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

const OptionTable<SynthSettings>& synth_options() {
  static const OptionTable<SynthSettings> table = [] {
    using S = SynthSettings;
    OptionTable<S> t;
    t.add("--patients", &S::patients, "number of patients").range(kMinPatients, kMaxPatients);
    t.add("--seed", &S::seed, "seed (same seed, same files)");
    t.add("--signal", &S::signal, "phase signal in the metadata, 0 = labels independent of it")
        .range(0, 1);
    t.add("--image-scale", &S::image_scale,
          "frame size relative to the real cameras' (1280x720 depth, 1080x1440 thermal)")
        .range(kMinImageScale, kMaxImageScale);
    t.add("--image-signal", &S::image_signal,
          "phase-dependent image appearance beyond the metadata, 0 = none")
        .range(0, 1);
    t.add("--from", &S::from_dir,
          "real study folder: copy its metadata, draw the frames its box files name");
    t.add("--thermal-rgb", &S::thermal_rgb, "also write Thermal_RGB/");
    t.add_computed(
        "--no-images", OptionType::kBool, [](const S& s) -> OptionValue { return !s.write_images; },
        [](S& s, const OptionValue& v) { s.write_images = !option_as<bool>(v, "--no-images"); },
        "write the metadata CSV only");
    t.add("metadata_file", &S::metadata_file, "the metadata file's name").internal();
    t.add("--threads", &S::threads, "0 = all cores; the files do not depend on it")
        .range(0, kMaxThreads)
        .run_context();
    return t;
  }();
  return table;
}

void SynthSettings::validate() const {
  synth_options().validate(*this);
  if (metadata_file.empty() || metadata_file == "." || metadata_file == ".." ||
      metadata_file.find_first_of("/\\") != std::string::npos)
    throw InputError("synth: metadata_file must be a plain file name, got '" + metadata_file + "'");
}

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
