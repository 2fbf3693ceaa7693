// Binds GGUF tensors to WeightViews by name, checking each tensor's shape and type as it goes
// (messages follow llama.cpp's "tensor '%s' has wrong shape; expected %s, got %s").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "gguf/file.h"

namespace spool::model {

// A tensor's bytes for the backend (n_bytes at data) and how the backend laid out its rows (Backend::upload_weight).
struct PlacedTensor {
    PlacedTensor(const void* data_, WeightLayout layout_ = WeightLayout::blocks) : data(data_), layout(layout_) {}
    const void* data;
    WeightLayout layout;
};

// Where a tensor's bytes live for the backend: the mapped file itself (cpu, ref) or an uploaded copy.
using TensorPlacer = std::function<PlacedTensor(const gguf::TensorInfo&)>;

std::string shape_string(const std::vector<int64_t>& ne);  // "[256, 32000]"

class WeightBinder {
public:
    // The binder reads `file` and asks `backend` whether it supports each tensor's type for its use.
    WeightBinder(const gguf::GgufFile& file, const Backend& backend, TensorPlacer placer);

    // A matrix used by matmul: GGUF dims [n_cols, n_rows] (ne0 = input features).
    // Throws FormatError (missing tensor, wrong shape) or UnsupportedError (type the backend cannot multiply).
    WeightView matrix(const std::string& name, int64_t n_cols, int64_t n_rows) const;
    // A table read by embed, [n_cols, n_rows]; the same errors.
    WeightView table(const std::string& name, int64_t n_cols, int64_t n_rows) const;
    // A float32 vector of n elements (norm weights, biases, rope factors); other types throw UnsupportedError.
    const float* vector(const std::string& name, int64_t n) const;

    bool has(const std::string& name) const noexcept { return file_.find_tensor(name) != nullptr; }
    const gguf::GgufFile& file() const noexcept { return file_; }

private:
    const gguf::TensorInfo& find(const std::string& name, const std::vector<int64_t>& expected) const;
    WeightView view(const gguf::TensorInfo& t) const;

    const gguf::GgufFile& file_;
    const Backend& backend_;
    TensorPlacer placer_;
};

}  // namespace spool::model
