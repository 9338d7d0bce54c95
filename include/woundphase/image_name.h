// The DFU study's image file names: `{n}_P{ppp}{aa}{d}{B|A}{D|T}{L|M|R}{W|Z}.png`, e.g.
// `280_P003011BDLW.png` = image 280, patient 003, appointment 01, wound 1, before debridement,
// depth camera, left angle, wide shot. A depth and a thermal image of the same view pair up by
// swapping D <-> T.
#pragma once

#include <string>

namespace woundphase {

enum class Debridement { kBefore, kAfter };   // 'B', 'A'
enum class Camera { kDepth, kThermal };       // 'D', 'T'
enum class Angle { kLeft, kMiddle, kRight };  // 'L', 'M', 'R'
enum class Zoom { kWide, kZoom };             // 'W', 'Z'

// Longest image number accepted: 18 digits always fit a long.
inline constexpr size_t kMaxImageNumberDigits = 18;

struct ImageName {
  long index = 0;       // {n}: the image's running number
  std::string patient;  // leading zeros stripped, as the metadata loader spells ids ("003" -> "3")
  long appt = 0;        // appointment (visit), 0..99
  long dfu = 0;         // wound number, 0..9
  Debridement debridement = Debridement::kBefore;
  Camera camera = Camera::kDepth;
  Angle angle = Angle::kLeft;
  Zoom zoom = Zoom::kWide;

  bool operator==(const ImageName& o) const {
    return index == o.index && patient == o.patient && appt == o.appt && dfu == o.dfu &&
           debridement == o.debridement && camera == o.camera && angle == o.angle && zoom == o.zoom;
  }
  bool operator!=(const ImageName& o) const { return !(*this == o); }
};

// Parses a bare file name (no folder). Case-sensitive, letters included; the extension must be
// exactly ".png" (the study writes lower case; ".PNG" is rejected with its own message). Throws
// InputError naming the file name, the part and its 1-based character position, e.g.
// "280_P003011BXLW.png: camera must be D or T at character 13".
ImageName parse_image_name(const std::string& file_name);

// The canonical file name: image number without leading zeros, patient padded to 3 digits,
// appointment to 2. parse_image_name(to_name(n)) == n; to_name(parse_image_name(s)) == s for
// every canonical s (every name in the study). Throws InputError if a field does not fit.
std::string to_name(const ImageName& name);

// A patient id as the study spells it everywhere: trimmed (core.h) and, when it is all digits,
// without leading zeros ("003" -> "3", "000" -> "0"); other ids are kept as they are. Leading
// zeros are spelling, not identity: "003" in the image names is patient "3" in the metadata.
std::string normalise_patient(const std::string& text);

// The same view from the other camera (D <-> T).
ImageName paired(const ImageName& name);
// `file_name` with its camera letter swapped (D <-> T), otherwise unchanged; validates it first.
std::string paired_name(const std::string& file_name);

char to_char(Debridement d);
char to_char(Camera c);
char to_char(Angle a);
char to_char(Zoom z);

}  // namespace woundphase
