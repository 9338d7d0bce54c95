// Parsing and writing the study's image file names.
#include "woundphase/image_name.h"

#include <fmt/format.h>

#include <string_view>

#include "woundphase/core.h"  // for InputError

namespace woundphase {
namespace {

constexpr std::string_view kExtension = ".png";
constexpr std::string_view kPattern = "{n}_P{ppp}{aa}{d}{B|A}{D|T}{L|M|R}{W|Z}.png";
constexpr int kPatientDigits = 3;
constexpr int kApptDigits = 2;
constexpr int kDfuDigits = 1;
constexpr long kMaxPatient = 999;
constexpr long kMaxAppt = 99;
constexpr long kMaxDfu = 9;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The name as shown in messages: bytes outside printable ASCII as \xNN, so a NUL or a control
// character cannot cut or garble the message.
std::string printable(const std::string& name) {
  std::string out;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7F)
      out.push_back(ch);
    else
      out += fmt::format("\\x{:02X}", c);
  }
  return out;
}

// Walks the name left to right; every failure names the file and the 1-based position.
class Cursor {
 public:
  explicit Cursor(const std::string& name) : name_(name) {}

  [[noreturn]] void fail(const std::string& what) const {
    if (pos_ >= name_.size())
      throw InputError(fmt::format("{}: the name ends early: {} at character {} (expected {})",
                                   printable(name_), what, pos_ + 1, kPattern));
    throw InputError(fmt::format("{}: {} at character {}", printable(name_), what, pos_ + 1));
  }

  // `count` digits, as written.
  std::string digits(int count, const char* what) {
    std::string out;
    for (int i = 0; i < count; ++i) {
      if (pos_ >= name_.size() || !is_digit(name_[pos_])) fail(what);
      out.push_back(name_[pos_++]);
    }
    return out;
  }

  void expect(char c, const char* what) {
    if (pos_ >= name_.size() || name_[pos_] != c) fail(what);
    ++pos_;
  }

  // Index of the current character in `letters`; fails with `what` if it is none of them.
  int letter(std::string_view letters, const char* what) {
    if (pos_ < name_.size()) {
      const auto k = letters.find(name_[pos_]);
      if (k != std::string_view::npos) {
        ++pos_;
        return static_cast<int>(k);
      }
    }
    fail(what);
  }

  long image_number() {
    size_t end = pos_;
    while (end < name_.size() && is_digit(name_[end])) ++end;
    if (end == pos_) fail("the name must start with the image number (digits)");
    if (end - pos_ > kMaxImageNumberDigits)
      fail(fmt::format("the image number has more than {} digits", kMaxImageNumberDigits));
    const long value = std::stol(name_.substr(pos_, end - pos_));
    pos_ = end;
    return value;
  }

  void extension() {
    const std::string_view rest = std::string_view(name_).substr(pos_);
    if (rest == kExtension) {
      pos_ = name_.size();
      return;
    }
    if (rest.empty()) fail("missing the '.png' extension");
    if (rest.size() == kExtension.size() && rest[0] == '.') {
      bool same_letters = true;
      for (size_t i = 1; i < rest.size(); ++i)
        same_letters = same_letters && (rest[i] | 0x20) == kExtension[i];
      if (same_letters) fail("the extension must be '.png' in lower case");
    }
    fail("expected '.png' right after the code");
  }

 private:
  const std::string& name_;
  size_t pos_ = 0;
};

std::string strip_zeros(const std::string& digits) {
  const auto nz = digits.find_first_not_of('0');
  return nz == std::string::npos ? "0" : digits.substr(nz);
}

}  // namespace

char to_char(Debridement d) { return d == Debridement::kBefore ? 'B' : 'A'; }
char to_char(Camera c) { return c == Camera::kDepth ? 'D' : 'T'; }
char to_char(Angle a) { return "LMR"[static_cast<int>(a)]; }
char to_char(Zoom z) { return z == Zoom::kWide ? 'W' : 'Z'; }

ImageName parse_image_name(const std::string& file_name) {
  if (file_name.empty())
    throw InputError(fmt::format("'': empty image file name (expected {})", kPattern));
  Cursor at(file_name);
  ImageName out;
  out.index = at.image_number();
  at.expect('_', "expected '_' after the image number");
  at.expect('P', "expected 'P' (patient) after '_'");
  out.patient = strip_zeros(at.digits(kPatientDigits, "the patient must be 3 digits"));
  out.appt = std::stol(at.digits(kApptDigits, "the appointment must be 2 digits"));
  out.dfu = std::stol(at.digits(kDfuDigits, "the wound (DFU) number must be 1 digit"));
  out.debridement = static_cast<Debridement>(at.letter("BA", "debridement must be B or A"));
  out.camera = static_cast<Camera>(at.letter("DT", "camera must be D or T"));
  out.angle = static_cast<Angle>(at.letter("LMR", "angle must be L, M or R"));
  out.zoom = static_cast<Zoom>(at.letter("WZ", "zoom must be W or Z"));
  at.extension();
  return out;
}

std::string to_name(const ImageName& name) {
  const bool numeric_patient = !name.patient.empty() &&
                               name.patient.size() <= static_cast<size_t>(kPatientDigits) &&
                               name.patient.find_first_not_of("0123456789") == std::string::npos;
  if (!numeric_patient)
    throw InputError(fmt::format("image name: patient '{}' is not a number in 0..{}", name.patient,
                                 kMaxPatient));
  if (name.index < 0)
    throw InputError(fmt::format("image name: negative image number {}", name.index));
  if (name.appt < 0 || name.appt > kMaxAppt)
    throw InputError(
        fmt::format("image name: appointment {} is not in 0..{}", name.appt, kMaxAppt));
  if (name.dfu < 0 || name.dfu > kMaxDfu)
    throw InputError(fmt::format("image name: wound number {} is not in 0..{}", name.dfu, kMaxDfu));
  return fmt::format("{}_P{:0>{}}{:0>{}}{:0>{}}{}{}{}{}{}", name.index, strip_zeros(name.patient),
                     kPatientDigits, name.appt, kApptDigits, name.dfu, kDfuDigits,
                     to_char(name.debridement), to_char(name.camera), to_char(name.angle),
                     to_char(name.zoom), kExtension);
}

ImageName paired(const ImageName& name) {
  ImageName out = name;
  out.camera = name.camera == Camera::kDepth ? Camera::kThermal : Camera::kDepth;
  return out;
}

std::string paired_name(const std::string& file_name) {
  parse_image_name(file_name);
  // The camera letter is the second of the four letters before the extension.
  const size_t camera_pos = file_name.size() - kExtension.size() - 3;
  std::string out = file_name;
  out[camera_pos] = out[camera_pos] == 'D' ? 'T' : 'D';
  return out;
}

std::string normalise_patient(const std::string& text) {
  const std::string t = trim(text);
  if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos) return t;
  const auto nz = t.find_first_not_of('0');
  return nz == std::string::npos ? "0" : t.substr(nz);
}

}  // namespace woundphase
