// Stage bookkeeping for a split binding: which stage's WeightBinder binds which layer.
#include "model/model_binder.h"

#include <string>
#include <utility>

#include "spool/errors.h"

namespace spool::model {

ModelBinder::ModelBinder(const gguf::GgufFile& file, std::vector<StagePlacement> stages)
    : file_(file), placements_(std::move(stages)) {
    if (placements_.empty()) throw UsageError("a model needs at least one backend stage to bind its weights to");
    binders_.reserve(placements_.size());
    for (size_t i = 0; i < placements_.size(); ++i) {
        const int64_t begin = placements_[i].layer_begin;
        const int64_t expected_min = i == 0 ? 0 : placements_[i - 1].layer_begin + 1;
        if ((i == 0 && begin != 0) || begin < expected_min) {
            throw UsageError("backend stage " + std::to_string(i) + " begins at layer " + std::to_string(begin) +
                             "; the first stage must begin at layer 0 and each later one after the one before it");
        }
        binders_.emplace_back(file_, *placements_[i].backend, placements_[i].placer);
    }
}

void ModelBinder::check_layer_count(int64_t n_layer) const {
    const int64_t last_begin = placements_.back().layer_begin;
    if (last_begin >= n_layer) {
        throw UsageError(file_.path() + ": the last backend stage begins at layer " + std::to_string(last_begin) +
                         ", but the model has only " + std::to_string(n_layer) + " layers");
    }
}

const WeightBinder& ModelBinder::layer(int64_t l) const noexcept {
    size_t stage = 0;
    while (stage + 1 < placements_.size() && placements_[stage + 1].layer_begin <= l) ++stage;
    return binders_[stage];
}

std::vector<Stage> ModelBinder::stages(int64_t n_layer) const {
    std::vector<Stage> out;
    for (size_t i = 0; i < placements_.size(); ++i) {
        const int64_t end = i + 1 < placements_.size() ? placements_[i + 1].layer_begin : n_layer;
        out.push_back(Stage{placements_[i].backend, placements_[i].layer_begin, end});
    }
    return out;
}

}  // namespace spool::model
