// Internal to src/synth: the synthetic cohort's model — the study's 72 columns, the phase model
// (shares, transitions, how each feature depends on the phase), the cohort's shape and the value
// sets, with the real study's shares — and the seeded draws the generator (cohort.cpp) makes.
#pragma once

#include <array>
#include <cmath>    // for sqrt, log, cos
#include <cstdint>  // for uint64_t
#include <random>   // for mt19937_64
#include <string>
#include <vector>

#include "woundphase/core.h"  // for kNumClasses

namespace woundphase::synth_internal {

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

}  // namespace woundphase::synth_internal
