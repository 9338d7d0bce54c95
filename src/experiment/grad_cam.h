// Internal to src/experiment: Grad-CAM overlays for predict --explain (grad_cam.cpp).
#pragma once

#include <string>
#include <vector>

#include "woundphase/dataset.h"
#include "woundphase/images.h"  // for ImageIndex, ImageCache
#include "woundphase/modality.h"
#include "woundphase/vision.h"  // for ImageModel

namespace woundphase {

// The folder beside --out that holds the overlays, and their index file in it.
inline constexpr char kGradCamFolder[] = "explain";
inline constexpr char kGradCamIndex[] = "grad_cam.csv";

// Which visit-wounds to explain: dataset rows with a prediction, the decided class of each, and
// every row's modalities_used (indexed by dataset row).
struct GradCamRequest {
  std::vector<int> rows;
  std::vector<int> decisions;  // per entry of rows
  std::vector<std::string> used;
};

struct GradCamImage {
  int row = 0;
  Modality modality = Modality::kThermalMap;
  std::string view;  // the frame's file name without extension
  int decision = 0;
  std::string file;         // <patient>_<appt>_<dfu>_<modality>_<view>.png in kGradCamFolder
  double centre_share = 0;  // share of the map's mass in the crop's central quarter (uniform: 0.25)
};

// Writes FOLDER/explain/<patient>_<appt>_<dfu>_<modality>_<view>.png: for every readable image of
// every modality a row's prediction used, the Grad-CAM of its decided class on the modality's
// branch (`branches`: the combination's image modalities, in its order) over the crop.
std::vector<GradCamImage> write_grad_cam(const Combination& combo,
                                         const std::vector<ImageModel*>& branches,
                                         const Dataset& data, const ImageIndex& index,
                                         ImageCache& cache, const GradCamRequest& request,
                                         const std::string& folder);
// explain/grad_cam.csv: patient, appt, dfu, modality, view, class, file, centre_share.
void write_grad_cam_csv(const Dataset& data, const std::vector<std::string>& class_labels,
                        const std::vector<GradCamImage>& images, const std::string& path);

}  // namespace woundphase
