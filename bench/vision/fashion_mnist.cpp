// Fashion-MNIST through the image trainer: the `simple` backbone, the same ImageModel::fit the
// image branches use (through the loader), on Debian's dataset-fashion-mnist (IDX files, gzipped):
// 60,000 training images (28x28, zero-padded to 32x32) of which a seeded 6,000 select the epoch,
// and the 10,000 test images for the reported accuracy.
#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>  // for shuffle, find
#include <chrono>
#include <random>

#include "bench.h"
#include "woundphase/vision.h"

namespace woundphase::bench {
namespace {

constexpr int kIdxImagesMagic = 0x00000803;
constexpr int kIdxLabelsMagic = 0x00000801;
constexpr int kFashionSide = 28;
constexpr int kPaddedSide = 32;
constexpr int kFashionClasses = 10;

std::vector<uint8_t> read_gzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw InputError(fmt::format("cannot open '{}'", path));
  std::vector<uint8_t> data;
  std::vector<uint8_t> chunk(1 << 20);
  int n = 0;
  while ((n = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()))) > 0)
    data.insert(data.end(), chunk.begin(), chunk.begin() + n);
  gzclose(file);
  if (n < 0) throw InputError(fmt::format("'{}' is not a readable gzip file", path));
  return data;
}

uint32_t big_endian(const std::vector<uint8_t>& d, size_t at) {
  return (uint32_t{d[at]} << 24) | (uint32_t{d[at + 1]} << 16) | (uint32_t{d[at + 2]} << 8) |
         d[at + 3];
}

// IDX images, each 28x28 centred in a zeroed 32x32 square.
ImageBatch read_images(const std::string& path) {
  const std::vector<uint8_t> d = read_gzip(path);
  if (d.size() < 16 || big_endian(d, 0) != kIdxImagesMagic || big_endian(d, 8) != kFashionSide ||
      big_endian(d, 12) != kFashionSide)
    throw InputError(fmt::format("'{}' is not an IDX file of 28x28 images", path));
  const int n = static_cast<int>(big_endian(d, 4));
  if (d.size() != 16 + static_cast<size_t>(n) * kFashionSide * kFashionSide)
    throw InputError(fmt::format("'{}' is truncated", path));
  ImageBatch b(n, kPaddedSide, 1);
  constexpr int kPad = (kPaddedSide - kFashionSide) / 2;
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < kFashionSide; ++y)
      std::copy_n(&d[16 + (static_cast<size_t>(i) * kFashionSide + y) * kFashionSide], kFashionSide,
                  b.image(i) + (y + kPad) * kPaddedSide + kPad);
  return b;
}

std::vector<int> read_labels(const std::string& path) {
  const std::vector<uint8_t> d = read_gzip(path);
  if (d.size() < 8 || big_endian(d, 0) != kIdxLabelsMagic)
    throw InputError(fmt::format("'{}' is not an IDX label file", path));
  return std::vector<int>(d.begin() + 8, d.end());
}

// Keeps the images of `classes` (all if empty), relabelled by their place in `classes`.
void keep_classes(const std::vector<int>& classes, LabelledImages* data) {
  if (classes.empty()) return;
  std::vector<int> rows, labels;
  for (int i = 0; i < data->images.count; ++i) {
    const auto at = std::find(classes.begin(), classes.end(), data->labels[i]);
    if (at == classes.end()) continue;
    rows.push_back(i);
    labels.push_back(static_cast<int>(at - classes.begin()));
  }
  LabelledImages out;
  out.images = ImageBatch(static_cast<int>(rows.size()), data->images.size, data->images.channels);
  for (size_t j = 0; j < rows.size(); ++j)
    std::copy_n(data->images.image(rows[j]), data->images.image_bytes(),
                out.images.image(static_cast<int>(j)));
  out.labels = std::move(labels);
  *data = std::move(out);
}

LabelledImages subset(const ImageBatch& images, const std::vector<int>& labels,
                      const std::vector<int>& rows) {
  LabelledImages out;
  out.images = ImageBatch(static_cast<int>(rows.size()), images.size, images.channels);
  for (size_t j = 0; j < rows.size(); ++j) {
    std::copy_n(images.image(rows[j]), images.image_bytes(), out.images.image(static_cast<int>(j)));
    out.labels.push_back(labels[rows[j]]);
  }
  return out;
}

}  // namespace

int run_fashion_mnist(const FashionOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const ImageBatch train_images = read_images(o.data_dir + "/train-images-idx3-ubyte.gz");
  const std::vector<int> train_labels = read_labels(o.data_dir + "/train-labels-idx1-ubyte.gz");
  LabelledImages test;
  test.images = read_images(o.data_dir + "/t10k-images-idx3-ubyte.gz");
  test.labels = read_labels(o.data_dir + "/t10k-labels-idx1-ubyte.gz");
  keep_classes(o.classes, &test);
  const int num_classes = o.classes.empty() ? kFashionClasses : static_cast<int>(o.classes.size());

  // The training images of the kept classes, shuffled with the seed.
  std::vector<int> rows;
  for (int i = 0; i < train_images.count; ++i)
    if (o.classes.empty() ||
        std::find(o.classes.begin(), o.classes.end(), train_labels[i]) != o.classes.end())
      rows.push_back(i);
  std::shuffle(rows.begin(), rows.end(), std::mt19937_64(o.seed));
  const std::vector<int> val_rows(rows.begin(), rows.begin() + o.validation);
  std::vector<int> fit_rows(rows.begin() + o.validation, rows.end());
  if (o.train_limit > 0 && o.train_limit < static_cast<int>(fit_rows.size()))
    fit_rows.resize(o.train_limit);
  LabelledImages train = subset(train_images, train_labels, fit_rows);
  LabelledImages val = subset(train_images, train_labels, val_rows);
  keep_classes(o.classes, &train);
  keep_classes(o.classes, &val);

  VisionSettings s;
  s.backbone = o.backbone;
  s.image_size = kPaddedSide;
  s.num_classes = num_classes;
  s.unfreeze = o.unfreeze;
  s.freeze_bn = o.freeze_bn;
  if (o.imagenet_normalization) s.normalization = InputNormalization::kImageNet;
  s.epochs = o.epochs;
  s.patience = o.patience;
  s.batch_size = o.batch_size;
  s.learning_rate = o.learning_rate;
  s.threads = o.threads;
  s.seed = o.seed;
  fmt::print(
      "fashion-mnist: {} classes; {} training, {} validation, {} test images; backbone {} "
      "(unfreeze {}{}), {} epochs max, batch {}, lr {}, {} threads\n",
      num_classes, train.images.count, val.images.count, test.images.count, s.backbone, s.unfreeze,
      s.freeze_bn ? ", batch norms frozen" : "", s.epochs, s.batch_size, s.learning_rate,
      s.threads);
  auto model = create_image_model(s, 1);
  long trainable = 0;
  for (const auto& layer : model->parameter_breakdown()) trainable += layer.trainable;
  fmt::print("trainable parameters: {}\n", trainable);
  FitHooks hooks;
  hooks.on_epoch = [](const EpochReport& r) {
    fmt::print(
        "epoch {:>2}  train loss {:.4f}  val loss {:.4f}  val QWK {:.4f}  val acc {:.4f}  "
        "{:.0f} img/s{}\n",
        r.epoch, r.train_loss, r.val_loss, r.val_qwk, r.val_accuracy,
        r.train_images / r.train_seconds, r.improved ? "  *" : "");
    std::fflush(stdout);
  };
  const TrainingHistory h = model->fit(train, val, s, hooks);
  const Probabilities p = model->predict_proba(test.images);
  long correct = 0;
  for (int i = 0; i < test.images.count; ++i) {
    const double* row = &p[static_cast<size_t>(i) * num_classes];
    correct += static_cast<int>(std::max_element(row, row + num_classes) - row) == test.labels[i];
  }
  const double accuracy = static_cast<double>(correct) / test.images.count;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("best epoch {} of {}{}; test accuracy {:.4f} ({} / {}); {:.0f} s in all\n",
             h.best_epoch, h.epochs.size(), h.stopped_early ? " (stopped early)" : "", accuracy,
             correct, test.images.count, seconds);
  return 0;
}

}  // namespace woundphase::bench
