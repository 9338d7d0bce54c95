// TorchImageModel (image_model.h): predictions, embeddings and Grad-CAM maps, in evaluation mode
// on batches of kEvalBatchFactor times the training batch.
#include <fmt/format.h>
#include <torch/torch.h>

#include <tuple>  // for get
#include <vector>

#include "vision/image_model.h"

namespace woundphase::vision {
namespace {

// Grad-CAM maps are divided by their peak; peaks below this are treated as 0 (no division by ~0).
constexpr double kCamFloor = 1e-12;

}  // namespace

void check_images(const ImageBatch& b, int channels, int size, const char* what) {
  if (b.count < 0) throw InputError(fmt::format("{} images: negative count {}", what, b.count));
  if (b.count == 0) return;
  if (b.channels != channels)
    throw InputError(
        fmt::format("{} images have {} channels; the model takes {}", what, b.channels, channels));
  if (b.size != size)
    throw InputError(
        fmt::format("{} images are {}x{}; --image-size is {}", what, b.size, b.size, size));
  if (b.pixels.size() != b.image_bytes() * b.count)
    throw InputError(fmt::format("{} images: {} pixel bytes for {} images of {}x{}x{}", what,
                                 b.pixels.size(), b.count, b.size, b.size, b.channels));
}

Probabilities TorchImageModel::predict_impl(const ImageBatch& images) {
  check_images(images, channels_, settings_.image_size, "prediction");
  torch::set_num_threads(settings_.threads);
  const torch::Tensor probs = torch::softmax(logits_of(images), 1).to(torch::kDouble).contiguous();
  return Probabilities(probs.data_ptr<double>(), probs.data_ptr<double>() + probs.numel());
}

std::vector<float> TorchImageModel::embed_impl(const ImageBatch& images) {
  check_images(images, channels_, settings_.image_size, "embedded");
  torch::set_num_threads(settings_.threads);
  torch::NoGradGuard no_grad;
  set_mode(false);
  AutocastScope autocast(device_, settings_.precision);
  std::vector<float> out;
  out.reserve(static_cast<size_t>(images.count) * embedding_dim());
  for_chunks(images.count, [&](int begin, int n) {
    const torch::Tensor e =
        embed_tensor(input(images.image(begin), n)).to(torch::kCPU, torch::kFloat).contiguous();
    out.insert(out.end(), e.data_ptr<float>(), e.data_ptr<float>() + e.numel());
  });
  return out;
}

std::vector<float> TorchImageModel::grad_cam_impl(const ImageBatch& images,
                                                  const std::vector<int>& classes) {
  check_images(images, channels_, settings_.image_size, "explained");
  if (classes.size() != static_cast<size_t>(images.count))
    throw InputError(
        fmt::format("Grad-CAM: {} classes for {} images", classes.size(), images.count));
  for (int c : classes)
    if (c < 0 || c >= settings_.num_classes)
      throw InputError(fmt::format("Grad-CAM: class {} out of range", c));
  torch::set_num_threads(settings_.threads);
  set_mode(false);
  const int64_t size = settings_.image_size;
  std::vector<float> out;
  out.reserve(static_cast<size_t>(images.count) * size * size);
  for_chunks(images.count, [&](int begin, int n) {
    torch::Tensor a;
    {
      torch::NoGradGuard no_grad;
      a = backbone_->feature_map(input(images.image(begin), n)).to(torch::kFloat);
    }
    // Gradients with respect to the activations alone (the weights may be frozen).
    a = a.detach().requires_grad_(true);
    torch::AutoGradMode grad(true);
    const torch::Tensor logits = head_->forward(project(backbone_->pool(a)));
    const torch::Tensor chosen =
        torch::tensor(std::vector<int64_t>(classes.begin() + begin, classes.begin() + begin + n),
                      torch::kLong)
            .to(logits.device())
            .view({n, 1});
    const torch::Tensor score = logits.gather(1, chosen).sum();
    const torch::Tensor g = torch::autograd::grad({score}, {a})[0];
    torch::Tensor cam = torch::relu((g.mean({2, 3}, /*keepdim=*/true) * a).sum(1, true));
    cam = torch::nn::functional::interpolate(cam.detach(),
                                             torch::nn::functional::InterpolateFuncOptions()
                                                 .size(std::vector<int64_t>{size, size})
                                                 .mode(torch::kBilinear)
                                                 .align_corners(false));
    const torch::Tensor peak = std::get<0>(cam.flatten(1).max(1)).view({n, 1, 1, 1});
    cam = torch::where(peak > 0, cam / peak.clamp_min(kCamFloor), torch::zeros_like(cam));
    const torch::Tensor cpu = cam.to(torch::kCPU, torch::kFloat).contiguous();
    out.insert(out.end(), cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
  });
  return out;
}

void TorchImageModel::embed_and_predict_impl(const ImageBatch& images,
                                             std::vector<float>* embeddings, Probabilities* probs) {
  check_images(images, channels_, settings_.image_size, "embedded");
  torch::set_num_threads(settings_.threads);
  torch::NoGradGuard no_grad;
  set_mode(false);
  embeddings->clear();
  embeddings->reserve(static_cast<size_t>(images.count) * embedding_dim());
  AutocastScope autocast(device_, settings_.precision);
  std::vector<torch::Tensor> logits;
  for_chunks(images.count, [&](int begin, int n) {
    const torch::Tensor e = embed_tensor(input(images.image(begin), n));
    logits.push_back(head_->forward(e).to(torch::kCPU, torch::kFloat));  // no dropout
    const torch::Tensor cpu = e.to(torch::kCPU, torch::kFloat).contiguous();
    embeddings->insert(embeddings->end(), cpu.data_ptr<float>(),
                       cpu.data_ptr<float>() + cpu.numel());
  });
  probs->clear();
  if (logits.empty()) return;
  const torch::Tensor p = torch::softmax(torch::cat(logits), 1).to(torch::kDouble).contiguous();
  probs->assign(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
}

torch::Tensor TorchImageModel::logits_of(const ImageBatch& images) {
  torch::NoGradGuard no_grad;
  set_mode(false);
  AutocastScope autocast(device_, settings_.precision);
  std::vector<torch::Tensor> parts;
  for_chunks(images.count, [&](int begin, int n) {
    parts.push_back(forward(input(images.image(begin), n)).to(torch::kCPU, torch::kFloat));
  });
  if (parts.empty()) return torch::empty({0, settings_.num_classes});
  return torch::cat(parts);
}

}  // namespace woundphase::vision
