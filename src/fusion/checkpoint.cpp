// TorchFusionModel (fusion_model.h): fusion checkpoints, the head's tensors by name and each
// branch's own checkpoint, checked against the model's kind and sources when read.
#include <fmt/format.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "fusion/fusion_model.h"

namespace woundphase::fusion {
namespace {

constexpr char kCheckpointFormat[] = "woundphase-fusion-checkpoint-1";

}  // namespace

std::string TorchFusionModel::sources_signature() const {
  std::string out;
  for (const auto& source : sources_)
    out += fmt::format("{}{}:{}", out.empty() ? "" : ",", source.name, source.embedding_dim);
  return out;
}

std::vector<NamedTensor> TorchFusionModel::head_tensors() const {
  std::vector<NamedTensor> out;
  for (const auto& item : head_->named_parameters()) out.emplace_back(item.key(), item.value());
  for (const auto& item : head_->named_buffers()) out.emplace_back(item.key(), item.value());
  return out;
}

void TorchFusionModel::save_impl(const std::string& path) const {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kCheckpointFormat)));
  archive.write("kind", c10::IValue(std::string(to_string(settings_.kind))));
  archive.write("sources", c10::IValue(sources_signature()));
  c10::List<std::string> names;
  c10::List<at::Tensor> tensors;
  for (const auto& [name, t] : head_tensors()) {
    names.push_back(name);
    tensors.push_back(t.detach().to(torch::kCPU));
  }
  archive.write("head_names", c10::IValue(names));
  archive.write("head_tensors", c10::IValue(tensors));
  archive.write("standardizer_fitted", c10::IValue(head_->standardizer_fitted()));
  for (int s = 0; s < n_sources(); ++s) {
    if (!branches_[s]) continue;
    torch::serialize::OutputArchive branch;
    torch_branches_[s]->write(branch);
    archive.write(branch_key(s), branch);
  }
  vision::save_archive(archive, path, "fusion checkpoint");
}

void TorchFusionModel::load_impl(const std::string& path) {
  torch::serialize::InputArchive archive;
  vision::load_archive(archive, path, device_, "fusion checkpoint");
  c10::IValue v;
  if (!archive.try_read("format", v) || !v.isString() || v.toStringRef() != kCheckpointFormat)
    throw InputError(fmt::format("'{}' is not a woundphase fusion checkpoint", path));
  auto expect = [&](const char* key, const std::string& want) {
    c10::IValue got;
    if (!archive.try_read(key, got) || !got.isString() || got.toStringRef() != want)
      throw InputError(fmt::format(
          "fusion checkpoint '{}' was written by another model ({} '{}', this model has '{}')",
          path, key, got.isString() ? got.toStringRef() : "?", want));
  };
  expect("kind", to_string(settings_.kind));
  expect("sources", sources_signature());
  c10::IValue names_value, tensors_value;
  if (!archive.try_read("head_names", names_value) ||
      !archive.try_read("head_tensors", tensors_value))
    throw InputError(fmt::format("fusion checkpoint '{}' has no head", path));
  const auto names = names_value.toList();
  const auto tensors = tensors_value.toTensorList();
  const std::vector<NamedTensor> into = head_tensors();
  if (names.size() != into.size() || tensors.size() != into.size())
    throw InputError(fmt::format("fusion checkpoint '{}' holds {} head tensors; this head has {}",
                                 path, names.size(), into.size()));
  for (size_t i = 0; i < into.size(); ++i) {
    const std::string name = names.get(i).toStringRef();
    const torch::Tensor t = tensors.get(i);
    if (name != into[i].first || !t.sizes().equals(into[i].second.sizes()))
      throw InputError(fmt::format("fusion checkpoint '{}' does not fit this head ({} vs {})", path,
                                   name, into[i].first));
  }
  for (int s = 0; s < n_sources(); ++s) {
    if (!branches_[s]) continue;
    torch::serialize::InputArchive branch;
    if (!archive.try_read(branch_key(s), branch))
      throw InputError(
          fmt::format("fusion checkpoint '{}' has no branch '{}'", path, sources_[s].name));
    torch_branches_[s]->read(branch, path);
  }
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < into.size(); ++i) into[i].second.copy_(tensors.get(i));
  }
  archive.read("standardizer_fitted", v);
  head_->set_standardizer_fitted(v.toBool());
  apply_stage2_trainability();
  stage2_start_.reset();
}

}  // namespace woundphase::fusion
