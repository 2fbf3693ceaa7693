// Binds a model whose layers may be split between backends (-ngl): each tensor is bound by the WeightBinder of
// the stage that uses it, so it is type-checked against and placed on the backend that runs it.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"
#include "model/weights.h"

namespace spool::model {

// One stage as the binding sees it: the backend that runs it, where its tensors live for that backend, and its
// first layer. A stage runs up to the next one's first layer, the last one up to n_layer.
struct StagePlacement {
    Backend* backend = nullptr;
    TensorPlacer placer;
    int64_t layer_begin = 0;
};

class ModelBinder {
public:
    // Throws UsageError unless there is at least one stage, the first begins at layer 0 and each later one begins
    // after the one before it. The file and every stage's backend must outlive the binder.
    ModelBinder(const gguf::GgufFile& file, std::vector<StagePlacement> stages);

    const gguf::GgufFile& file() const noexcept { return file_; }
    // Throws UsageError when the last stage begins at or past n_layer (a stage would hold no layer).
    // Call once the hyperparameters are read, before layer() and stages().
    void check_layer_count(int64_t n_layer) const;

    const WeightBinder& input() const noexcept { return binders_.front(); }  // token embedding: the first stage
    const WeightBinder& output() const noexcept { return binders_.back(); }  // output norm and head: the last
    const WeightBinder& layer(int64_t l) const noexcept;                     // the stage that runs layer l
    std::vector<Stage> stages(int64_t n_layer) const;

private:
    const gguf::GgufFile& file_;
    std::vector<StagePlacement> placements_;
    std::vector<WeightBinder> binders_;  // [stage]
};

}  // namespace spool::model
