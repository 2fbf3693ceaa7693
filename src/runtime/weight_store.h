// Where the model's weights live for the backend. Host backends (cpu, ref) use the mapped file in place
// (zero-copy); device backends get each tensor uploaded once, on first use.
// TODO(issue 5, streaming part): per-layer residency and streaming with a memory planner.
#pragma once

#include <unordered_map>

#include "backend/backend.h"
#include "gguf/file.h"
#include "model/weights.h"

namespace spool::runtime {

class WeightStore {
public:
    // The backend must outlive the store (and the mapped file every tensor it places).
    explicit WeightStore(Backend& backend) : backend_(backend) {}

    // The placer the model binding calls for every tensor. Throws ResourceError when an upload does not fit.
    model::TensorPlacer placer();
    size_t uploaded_bytes() const noexcept { return uploaded_bytes_; }

private:
    struct Upload {
        Buffer buffer;
        WeightLayout layout;
    };
    model::PlacedTensor place(const gguf::TensorInfo& tensor);

    Backend& backend_;
    std::unordered_map<const gguf::TensorInfo*, Upload> uploads_;
    size_t uploaded_bytes_ = 0;
};

}  // namespace spool::runtime
