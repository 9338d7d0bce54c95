// `woundphase inspect`: a study folder's content and sanity checks, as text.
#pragma once

#include <string>

#include "woundphase/dataset.h"

namespace woundphase {

// Rows, patients, visits, wounds, class counts (also per patient), missing values per column and
// each column's role, image files found per modality and bounding-box sanity, then the problems
// found. Throws InputError for what load_dataset rejects.
std::string inspect_dataset(const std::string& dir, const Schema& schema);

}  // namespace woundphase
