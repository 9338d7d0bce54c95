// TorchImageModel (image_model.h): checkpoints, written and read by name with every tensor's shape
// checked, and the optimiser's state.
#include <fmt/format.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "vision/image_model.h"

namespace woundphase::vision {
namespace {

constexpr char kCheckpointFormat[] = "woundphase-vision-checkpoint-1";
constexpr char kInputMeanName[] = "input.mean";
constexpr char kInputStdName[] = "input.std";

}  // namespace

void TorchImageModel::write(torch::serialize::OutputArchive& archive) const {
  archive.write("format", c10::IValue(std::string(kCheckpointFormat)));
  archive.write("backbone", c10::IValue(settings_.backbone));
  archive.write("channels", c10::IValue(static_cast<int64_t>(channels_)));
  archive.write("num_classes", c10::IValue(static_cast<int64_t>(settings_.num_classes)));
  archive.write("trainable_fraction", c10::IValue(trainable_fraction_));
  archive.write("classifier_trainable", c10::IValue(classifier_trainable_));
  archive.write("normalizer_fitted", c10::IValue(normalizer_fitted_));
  const NamedList params = to_list(parameters());
  const NamedList buffers = to_list(buffers_with_input());
  archive.write("parameter_names", c10::IValue(params.names));
  archive.write("parameters", c10::IValue(params.tensors));
  archive.write("buffer_names", c10::IValue(buffers.names));
  archive.write("buffers", c10::IValue(buffers.tensors));
  torch::serialize::OutputArchive optimizer;
  optimizer_->save(optimizer);
  archive.write("optimizer", optimizer);
}

void TorchImageModel::read(torch::serialize::InputArchive& archive, const std::string& path) {
  c10::IValue v;
  if (!archive.try_read("format", v) || !v.isString() || v.toStringRef() != kCheckpointFormat)
    throw InputError(fmt::format("'{}' is not a woundphase image checkpoint", path));
  auto expect = [&](const char* key, const c10::IValue& want, const std::string& shown) {
    c10::IValue got;
    if (!archive.try_read(key, got) || got != want)
      throw InputError(fmt::format("checkpoint '{}' was written by another network ({} is not {})",
                                   path, key, shown));
  };
  expect("backbone", c10::IValue(settings_.backbone), settings_.backbone);
  expect("channels", c10::IValue(static_cast<int64_t>(channels_)), std::to_string(channels_));
  expect("num_classes", c10::IValue(static_cast<int64_t>(settings_.num_classes)),
         std::to_string(settings_.num_classes));
  read_list(archive, path, "parameter", parameters());
  read_list(archive, path, "buffer", buffers_with_input());
  archive.read("normalizer_fitted", v);
  normalizer_fitted_ = v.toBool();
  archive.read("trainable_fraction", v);
  const double fraction = v.toDouble();
  // Checkpoints from before the classifier could be frozen train it.
  const bool classifier = !archive.try_read("classifier_trainable", v) || v.toBool();
  set_trainable_impl(fraction, classifier);
  torch::serialize::InputArchive optimizer;
  if (archive.try_read("optimizer", optimizer)) {
    try {
      optimizer_->load(optimizer);
    } catch (const std::exception& e) {
      throw InputError(fmt::format("checkpoint '{}': its optimiser state does not fit", path));
    }
  }
}

void TorchImageModel::save_impl(const std::string& path) const {
  torch::serialize::OutputArchive archive;
  write(archive);
  save_archive(archive, path, "image checkpoint");
}

void TorchImageModel::load_impl(const std::string& path) {
  torch::serialize::InputArchive archive;
  load_archive(archive, path, device_, "image checkpoint");
  read(archive, path);
}

std::vector<NamedTensor> TorchImageModel::buffers_with_input() const {
  std::vector<NamedTensor> out = network_buffers();
  out.emplace_back(kInputMeanName, input_mean_);
  out.emplace_back(kInputStdName, input_std_);
  return out;
}

NamedList TorchImageModel::to_list(const std::vector<NamedTensor>& tensors) {
  NamedList list;
  for (const auto& [name, t] : tensors) {
    list.names.push_back(name);
    list.tensors.push_back(t.detach().to(torch::kCPU));
  }
  return list;
}

void TorchImageModel::read_list(torch::serialize::InputArchive& archive, const std::string& path,
                                const std::string& kind, const std::vector<NamedTensor>& into) {
  c10::IValue names_value, tensors_value;
  if (!archive.try_read(kind + "_names", names_value) ||
      !archive.try_read(kind + "s", tensors_value))
    throw InputError(fmt::format("checkpoint '{}' has no {}s", path, kind));
  const auto names = names_value.toList();
  const auto tensors = tensors_value.toTensorList();
  if (names.size() != into.size() || tensors.size() != into.size())
    throw InputError(fmt::format("checkpoint '{}' holds {} {}s; this network has {}", path,
                                 names.size(), kind, into.size()));
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < into.size(); ++i) {
    const std::string name = names.get(i).toStringRef();
    const torch::Tensor t = tensors.get(i);
    if (name != into[i].first || !t.sizes().equals(into[i].second.sizes()))
      throw InputError(fmt::format("checkpoint '{}' does not fit this network ({} {} vs {})", path,
                                   kind, name, into[i].first));
    into[i].second.copy_(t);
  }
}

}  // namespace woundphase::vision
