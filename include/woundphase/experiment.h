// Experiments: the patient cross-validated search over modality combinations, fitting on all
// labelled patients (train) and applying a model bundle to new patients (predict).
//
// An umbrella over the headers split by concern, kept while includers move to the ones they use:
// modality.h, search_settings.h, search.h (jobs, results, run_search), metadata_branch.h,
// bundle.h (train, predict), experiment_options.h (the knobs' tables).
#pragma once

// What the single header brought before the split, for includers that relied on it.
#include "woundphase/core.h"
#include "woundphase/dataset.h"
#include "woundphase/ensemble.h"
#include "woundphase/files.h"
#include "woundphase/fusion.h"
#include "woundphase/images.h"
#include "woundphase/metrics.h"
#include "woundphase/sampling.h"
#include "woundphase/tabular.h"
#include "woundphase/vision.h"
// The headers by concern.
#include "woundphase/bundle.h"
#include "woundphase/experiment_options.h"
#include "woundphase/metadata_branch.h"
#include "woundphase/modality.h"
#include "woundphase/search.h"
#include "woundphase/search_settings.h"
