// Internal to src/experiment: one (run, fold) of a search. Every combination of the fold shares
// the fold's fitted pieces, each computed once and only when some combination needs it:
//   - the metadata branch (tree model for the test rows, out-of-fold probabilities for the
//     training rows);
//   - one image branch per image modality (trained on the fold's fit patients, early-stopped on
//     its validation patients) and its per-visit-wound features;
// so a search's cost grows with the number of modalities; each fused combination then trains only
// its head (stage 1) and, when asked, its stage 2.
#pragma once

#include <array>
#include <memory>  // for unique_ptr
#include <optional>
#include <vector>

#include "experiment/image_job.h"
#include "woundphase/metadata_branch.h"
#include "woundphase/modality.h"
#include "woundphase/search.h"
#include "woundphase/search_settings.h"

namespace woundphase {

// Every network (image branch, fusion head) trains and predicts on one intra-op thread, whatever
// --threads says: libtorch's kernels sum in another order on another thread count, so this is
// what makes a search's bytes independent of --threads. --threads instead runs that many (run,
// fold) jobs at once (run_search), and the forest of a job gets the threads left over.
inline constexpr int kNetworkThreads = 1;

// The image side of a search: images matched to visit-wounds and their decoded crops.
struct ImageInputs {
  ImageIndex index;
  std::unique_ptr<ImageCache> cache;
  std::vector<ImageModality> modalities;  // the ones the search decodes
  // --gen-aug-dir: each modality's generated images (null: none), read once for every fold.
  std::array<std::shared_ptr<const GeneratedImages>, kNumImageModalities> generated;
  // The frames of those modalities that could not be used: missing or not files (the index) and
  // oversized or corrupt (the cache), by file name.
  std::vector<SkippedImage> skipped() const;
};
std::unique_ptr<ImageInputs> prepare_images(const Dataset& data, const SearchSettings& settings,
                                            const ProgressFn& progress);

// The rows of one (run, fold) and the inner split of its training patients: `fit` patients train
// image branches and heads, `val` patients (never trained on) select their epochs, decide stage 2
// and fit the ensemble. The split is by patient and the same for every modality of the fold.
struct FoldPlan {
  int run = 0;
  unsigned long long run_seed = 0;
  int fold = 0;
  unsigned long long seed = 0;  // the fold's seed: every fitted step derives its own from it
  std::vector<int> train_rows, train_labels, test_rows;
  std::vector<int> fit_rows, fit_labels, val_rows, val_labels;
};
// Throws InputError naming the label column when `labels` (class indices) hold fewer than two
// classes: nothing can be learned and every kappa is undefined. `where` says which rows ("the
// study's 120 visit-wounds", "run 0 fold 2: the training patients").
void require_two_classes(const Dataset& data, const std::vector<int>& labels,
                         const std::string& where);

FoldPlan make_fold_plan(const Dataset& data, double validation_fraction, int run,
                        unsigned long long run_seed, int fold, std::vector<int> train_rows,
                        std::vector<int> train_labels, std::vector<int> test_rows);

class FoldWork {
 public:
  FoldWork(const Dataset& data, const SearchSettings& settings, ImageInputs* images,
           const FoldPlan& plan, const ProgressFn& progress, JobCache* cache);
  ~FoldWork();
  FoldWork(const FoldWork&) = delete;
  FoldWork& operator=(const FoldWork&) = delete;

  // Trains and scores one combination on this fold.
  JobRecord compute(const Combination& combo);
  // Trains (and, with a cache, saves) or loads the image branch of `m` on this fold, as the
  // first combination needing it would: a distributed search's branch job.
  void prepare_branch(Modality m) { branch(m); }

  // The fitted models of the last compute(), for a bundle (train): call keep_models() before.
  struct Models {
    std::optional<MetadataModel> metadata;
    std::vector<TrainedBranch> branches;  // the combination's image modalities, in its order
    std::unique_ptr<FusionModel> head;    // fused combinations; in the state that was kept
    std::string final_stage;              // "stage1" or "stage2" (fused), else ""
  };
  void keep_models() { keep_models_ = true; }
  Models take_models(const Combination& combo);
  // The head of the last compute() of a fused combination (after keep_models()), taken out so
  // that further combinations of the fold can be computed; `final_stage` receives its stage.
  std::unique_ptr<FusionModel> take_head(std::string* final_stage);
  // The late-fusion ensemble over the fold's finished combinations (`members`, one per
  // combination of the search), fitted on their predictions for the validation patients.
  JobRecord ensemble(const std::vector<const JobRecord*>& members);

 private:
  struct Metadata {
    Probabilities train_oof;            // per plan.train_rows
    Probabilities test;                 // per plan.test_rows
    std::vector<CleaningRow> cleaning;  // --clean: the verdict on every training row
    std::string tuned;                  // --tune: the chosen configuration (JSON)
  };
  struct Branch {
    TrainedBranch trained;
    BranchFeatures features;  // fit, val and test rows
  };

  const Metadata& metadata();
  Branch& branch(Modality m);
  JobRecord compute_metadata(const Combination& combo);
  JobRecord compute_image(const Combination& combo);
  JobRecord compute_fused(const Combination& combo);
  JobRecord new_record(const Combination& combo, int n_train) const;
  // --gen-aug-dir: the generated images the fold's branch of `m` trained on, into job->generated.
  void add_branch_counts(Modality m, JobRecord* job);

  const Dataset& data_;
  const SearchSettings& settings_;
  ImageInputs* images_;
  FoldPlan plan_;
  ProgressFn progress_;
  JobCache* cache_;
  std::optional<Metadata> metadata_;
  bool keep_models_ = false;
  std::optional<MetadataModel> metadata_model_;
  std::unique_ptr<FusionModel> head_;
  std::string final_stage_;
  std::array<std::unique_ptr<Branch>, kNumModalities> branches_;
};

}  // namespace woundphase
