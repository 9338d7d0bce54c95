// Grad-CAM overlays of predict --explain: for every image a prediction used, the heatmap of the
// predicted phase on its branch's last convolutional stage, blended over the crop the network saw.
#include "experiment/grad_cam.h"

#include <fmt/format.h>

#include <algorithm>  // for clamp, max
#include <cmath>      // for abs, lround
#include <filesystem>

#include "experiment/image_job.h"
#include "woundphase/dataset.h"  // for csv_field
#include "woundphase/files.h"

namespace fs = std::filesystem;

namespace woundphase {
namespace {

// Overlays are enlarged to at least this side (crops are 32-256 pixels) so a reader sees them.
constexpr int kMinOverlaySide = 256;
// Heat colour weight at full activation; the crop shows through the rest.
constexpr double kHeatAlpha = 0.55;

// A jet-like colour for c in [0, 1]: blue (cold) -> cyan -> yellow -> red (hot).
Rgb heat_colour(double c) {
  auto channel = [&](double centre) {
    return static_cast<uint8_t>(
        std::lround(255 * std::clamp(1.5 - std::abs(4 * c - centre), 0.0, 1.0)));
  };
  return {channel(3), channel(2), channel(1)};
}

ImageU8 overlay(const ImageU8& crop, const float* cam) {
  ImageU8 out(crop.width, crop.height, 3);
  for (int y = 0; y < crop.height; ++y)
    for (int x = 0; x < crop.width; ++x) {
      const double c = cam[y * crop.width + x];
      const Rgb heat = heat_colour(c);
      const double a = kHeatAlpha * c;
      for (int ch = 0; ch < 3; ++ch) {
        const double base = crop.pixels[(static_cast<size_t>(y) * crop.width + x) * crop.channels +
                                        (crop.channels == 3 ? ch : 0)];
        out.pixels[(static_cast<size_t>(y) * crop.width + x) * 3 + ch] =
            static_cast<uint8_t>(std::lround((1 - a) * base + a * heat[ch]));
      }
    }
  return out;
}

// Share of a map's mass in the central square of half the side (a quarter of the area: 0.25 for a
// uniform map); NaN for an all-zero map.
double centre_share(const float* cam, int size) {
  double total = 0;
  double centre = 0;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const double v = cam[y * size + x];
      total += v;
      const bool inside =
          y >= size / 4 && y < size - size / 4 && x >= size / 4 && x < size - size / 4;
      centre += inside ? v : 0;
    }
  return total > 0 ? centre / total : NAN;
}

bool uses(const std::string& used, Modality m) {
  const std::string name = to_string(m);
  size_t begin = 0;
  for (size_t i = 0; i <= used.size(); ++i) {
    if (i < used.size() && used[i] != '+') continue;
    if (used.compare(begin, i - begin, name) == 0 && i - begin == name.size()) return true;
    begin = i + 1;
  }
  return false;
}

}  // namespace

std::vector<GradCamImage> write_grad_cam(const Combination& combo,
                                         const std::vector<ImageModel*>& branches,
                                         const Dataset& data, const ImageIndex& index,
                                         ImageCache& cache, const GradCamRequest& request,
                                         const std::string& folder) {
  std::vector<GradCamImage> out;
  const fs::path dir = fs::path(folder) / kGradCamFolder;
  size_t k = 0;
  for (Modality m : combo) {
    if (!is_image(m)) continue;
    ImageModel& model = *branches[k++];
    const ImageModality im = image_modality(m);
    const int size = model.settings().image_size;
    const int channels = model.channels();
    std::vector<const ImageU8*> crops;
    std::vector<GradCamImage> images;
    std::vector<int> classes;
    for (size_t i = 0; i < request.rows.size(); ++i) {
      const int row = request.rows[i];
      if (!uses(request.used[row], m)) continue;
      for (const ImageRef& ref : index.refs(row, im)) {
        const ImageU8* crop = cache.get(ref, im);
        if (crop == nullptr) continue;
        if (crop->width != size || crop->height != size || crop->channels != channels)
          throw std::logic_error("Grad-CAM: a crop does not match its branch's input");
        crops.push_back(crop);
        classes.push_back(request.decisions[i]);
        GradCamImage g;
        g.row = row;
        g.modality = m;
        g.view = fs::path(ref.file).stem().string();
        g.decision = request.decisions[i];
        images.push_back(std::move(g));
      }
    }
    if (crops.empty()) continue;
    ImageBatch batch(static_cast<int>(crops.size()), size, channels);
    const int area = size * size;
    for (size_t j = 0; j < crops.size(); ++j)
      for (int ch = 0; ch < channels; ++ch)
        for (int p = 0; p < area; ++p)
          batch.image(static_cast<int>(j))[ch * area + p] = crops[j]->pixels[p * channels + ch];
    const std::vector<float> cams = model.grad_cam(batch, classes);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw InputError(fmt::format("{}: cannot create ({})", dir.string(), ec.message()));
    for (size_t j = 0; j < crops.size(); ++j) {
      GradCamImage& g = images[j];
      const VisitWound& vw = data.rows[g.row];
      g.file = fmt::format("{}_{}_{}_{}_{}.png", data.patients[vw.patient], vw.appt, vw.dfu,
                           to_string(m), g.view);
      const float* cam = cams.data() + j * area;
      g.centre_share = centre_share(cam, size);
      write_png((dir / g.file).string(),
                resize_pad(overlay(*crops[j], cam), std::max(size, kMinOverlaySide)));
      out.push_back(std::move(g));
    }
  }
  return out;
}

void write_grad_cam_csv(const Dataset& data, const std::vector<std::string>& class_labels,
                        const std::vector<GradCamImage>& images, const std::string& path) {
  std::string text = "patient,appt,dfu,modality,view,class,file,centre_share\n";
  for (const GradCamImage& g : images) {
    const VisitWound& vw = data.rows[g.row];
    text +=
        fmt::format("{},{},{},{},{},{},{},{:.6f}\n", csv_field(data.patients[vw.patient]), vw.appt,
                    vw.dfu, to_string(g.modality), csv_field(g.view), class_labels[g.decision],
                    csv_field(std::string(kGradCamFolder) + "/" + g.file), g.centre_share);
  }
  write_file_atomically(path, text);
}

}  // namespace woundphase
