// A frame's format and size from its header, read before it is decoded, so a decompression bomb
// (a small PNG declaring 2^30 pixels) is refused by what it declares instead of by the memory it
// takes. Only formats whose header gives the size in its first bytes are read.
#include <fmt/format.h>

#include <cctype>   // for isdigit, isspace
#include <cstring>  // for memcmp
#include <limits>   // for numeric_limits
#include <string>

#include "woundphase/core.h"  // for InputError
#include "woundphase/images.h"
#include "woundphase/options.h"

namespace woundphase {
namespace {

constexpr uint8_t kPngSignature[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
constexpr size_t kPngIhdrEnd = 24;  // signature, chunk length and type, width, height
constexpr size_t kBmpInfoStart = 14;
constexpr uint32_t kBmpCoreHeaderSize = 12;  // OS/2 1.x: 16-bit width and height
constexpr uint16_t kTiffImageWidth = 256;
constexpr uint16_t kTiffImageLength = 257;
constexpr uint16_t kTiffShort = 3;
constexpr uint16_t kTiffLong = 4;
constexpr size_t kTiffEntrySize = 12;
constexpr size_t kWebpChunkData = 20;  // "RIFF", size, "WEBP", chunk type, chunk size
constexpr uint8_t kVp8LosslessSignature = 0x2F;
constexpr int kWebpSizeBits = 14;

// A bounds-checked view of the file's first bytes; reading past the end is a cut-short header.
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t size() const { return size_; }
  bool starts_with(const void* magic, size_t n) const {
    return size_ >= n && std::memcmp(data_, magic, n) == 0;
  }
  uint8_t u8(size_t at) const {
    need(at, 1);
    return data_[at];
  }
  uint32_t be(size_t at, int n) const {
    need(at, n);
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | data_[at + i];
    return v;
  }
  uint32_t le(size_t at, int n) const {
    need(at, n);
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | data_[at + i];
    return v;
  }

 private:
  void need(size_t at, size_t n) const {
    if (at > size_ || n > size_ - at) throw InputError("the header is cut short");
  }
  const uint8_t* data_;
  size_t size_;
};

ImageHeader png(const Bytes& b) {
  if (b.size() < kPngIhdrEnd || b.be(12, 4) != 0x49484452)  // "IHDR"
    throw InputError("a PNG without its IHDR header");
  return {ImageFormat::kPng, b.be(16, 4), b.be(20, 4)};
}

// The first start-of-frame segment (SOF0..SOF15 but DHT, JPG and DAC) after the markers before it.
ImageHeader jpeg(const Bytes& b) {
  size_t at = 2;
  for (;;) {
    if (b.u8(at) != 0xFF) throw InputError("a JPEG whose segments are corrupt");
    while (b.u8(at) == 0xFF) ++at;  // fill bytes
    const uint8_t marker = b.u8(at++);
    const bool standalone = marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8);
    if (standalone) continue;
    if (marker == 0xD9 || marker == 0xDA) throw InputError("a JPEG without a frame header");
    const bool frame =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame) return {ImageFormat::kJpeg, b.be(at + 5, 2), b.be(at + 3, 2)};
    at += b.be(at, 2);
  }
}

ImageHeader bmp(const Bytes& b) {
  const uint32_t info_size = b.le(kBmpInfoStart, 4);
  if (info_size == kBmpCoreHeaderSize) return {ImageFormat::kBmp, b.le(18, 2), b.le(20, 2)};
  const auto width = static_cast<int32_t>(b.le(18, 4));
  const auto height = static_cast<int32_t>(b.le(22, 4));  // negative: rows top to bottom
  if (width < 0) throw InputError("a BMP with a negative width");
  return {ImageFormat::kBmp, width, height < 0 ? -static_cast<int64_t>(height) : height};
}

// ImageWidth and ImageLength of the first image file directory.
ImageHeader tiff(const Bytes& b) {
  const bool little = b.u8(0) == 'I';
  auto read = [&](size_t at, int n) { return little ? b.le(at, n) : b.be(at, n); };
  const size_t ifd = read(4, 4);
  const uint32_t entries = read(ifd, 2);
  int64_t width = 0;
  int64_t height = 0;
  for (uint32_t e = 0; e < entries; ++e) {
    const size_t at = ifd + 2 + e * kTiffEntrySize;
    const uint32_t tag = read(at, 2);
    if (tag != kTiffImageWidth && tag != kTiffImageLength) continue;
    const uint32_t type = read(at + 2, 2);
    if (type != kTiffShort && type != kTiffLong)
      throw InputError("a TIFF whose image size is not an integer");
    const uint32_t value = read(at + 8, type == kTiffShort ? 2 : 4);
    (tag == kTiffImageWidth ? width : height) = value;
  }
  return {ImageFormat::kTiff, width, height};
}

ImageHeader webp(const Bytes& b) {
  const uint32_t chunk = b.be(12, 4);
  const size_t d = kWebpChunkData;
  if (chunk == 0x56503820) {  // "VP8 ": a key frame's start code, then 14-bit sizes
    if (b.be(d + 3, 3) != 0x9D012A) throw InputError("a WebP whose VP8 frame is corrupt");
    return {ImageFormat::kWebp, b.le(d + 6, 2) & 0x3FFF, b.le(d + 8, 2) & 0x3FFF};
  }
  if (chunk == 0x5650384C) {  // "VP8L": signature, then width - 1 and height - 1 in 14 bits each
    if (b.u8(d) != kVp8LosslessSignature) throw InputError("a WebP whose VP8L frame is corrupt");
    const uint32_t bits = b.le(d + 1, 4);
    const uint32_t mask = (1U << kWebpSizeBits) - 1;
    return {ImageFormat::kWebp, (bits & mask) + 1, ((bits >> kWebpSizeBits) & mask) + 1};
  }
  if (chunk == 0x56503858)  // "VP8X": canvas width - 1 and height - 1 in 24 bits each
    return {ImageFormat::kWebp, b.le(d + 4, 3) + int64_t{1}, b.le(d + 7, 3) + int64_t{1}};
  throw InputError("a WebP without a VP8, VP8L or VP8X chunk");
}

// P1..P6: the magic, then width and height as decimal numbers among blanks and # comments.
ImageHeader pnm(const Bytes& b) {
  size_t at = 2;
  auto number = [&] {
    for (;;) {
      const uint8_t c = b.u8(at);
      if (c == '#') {
        while (b.u8(at) != '\n') ++at;
      } else if (std::isspace(c)) {
        ++at;
      } else {
        break;
      }
    }
    if (!std::isdigit(b.u8(at))) throw InputError("a PNM whose size is not a number");
    int64_t v = 0;
    for (; std::isdigit(b.u8(at)); ++at) {
      v = v * 10 + (b.u8(at) - '0');
      if (v > kMaxImagePixelsBound) throw InputError("a PNM whose size is absurd");
    }
    return v;
  };
  const int64_t width = number();
  return {ImageFormat::kPnm, width, number()};
}

}  // namespace

const char* to_string(ImageFormat f) {
  switch (f) {
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kBmp:
      return "BMP";
    case ImageFormat::kTiff:
      return "TIFF";
    case ImageFormat::kWebp:
      return "WebP";
    case ImageFormat::kPnm:
      return "PNM";
  }
  return "?";
}

const OptionTable<ImageLimits>& image_limits_options() {
  static const OptionTable<ImageLimits> table = [] {
    using S = ImageLimits;
    OptionTable<S> t;
    t.add("--max-image-pixels", &S::max_pixels,
          "frames declaring more pixels are skipped before decoding")
        .range(1, static_cast<double>(kMaxImagePixelsBound))
        .json_key("max_image_pixels");
    t.add("--max-image-bytes", &S::max_bytes, "larger frame files are skipped before reading")
        .range(1, std::numeric_limits<double>::infinity())
        .json_key("max_image_bytes");
    return t;
  }();
  return table;
}

void ImageLimits::validate() const { image_limits_options().validate(*this); }

ImageHeader parse_image_header(const uint8_t* data, size_t size) {
  const Bytes b(data, size);
  ImageHeader h;
  if (b.starts_with(kPngSignature, sizeof(kPngSignature))) {
    h = png(b);
  } else if (b.starts_with("\xFF\xD8", 2)) {
    h = jpeg(b);
  } else if (b.starts_with("BM", 2)) {
    h = bmp(b);
  } else if (b.starts_with("II*\0", 4) || b.starts_with("MM\0*", 4)) {
    h = tiff(b);
  } else if (b.starts_with("RIFF", 4) && size >= 12 && std::memcmp(data + 8, "WEBP", 4) == 0) {
    h = webp(b);
  } else if (size >= 2 && data[0] == 'P' && data[1] >= '1' && data[1] <= '6') {
    h = pnm(b);
  } else {
    throw InputError("not a PNG, JPEG, BMP, TIFF, WebP or PNM image");
  }
  if (h.width <= 0 || h.height <= 0)
    throw InputError(
        fmt::format("a {} header declaring a {}x{} image", to_string(h.format), h.width, h.height));
  return h;
}

}  // namespace woundphase
