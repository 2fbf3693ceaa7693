// Tensor binding with shape and type checks; every error names the file and the tensor.
#include "model/weights.h"

#include "quant/types.h"
#include "spool/errors.h"

namespace spool::model {

std::string shape_string(const std::vector<int64_t>& ne) {
    std::string s = "[";
    for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "]";
}

WeightBinder::WeightBinder(const gguf::GgufFile& file, const Backend& backend, TensorPlacer placer)
    : file_(file), backend_(backend), placer_(std::move(placer)) {}

const gguf::TensorInfo& WeightBinder::find(const std::string& name, const std::vector<int64_t>& expected) const {
    const gguf::TensorInfo* t = file_.find_tensor(name);
    if (t == nullptr) {
        throw FormatError(file_.path(), 0, "tensor '" + name + "'",
                          "missing; architecture '" + file_.architecture() + "' needs it with shape " +
                              shape_string(expected));
    }
    // Trailing dimensions of 1 are insignificant ([256] == [256, 1]).
    std::vector<int64_t> got = t->ne;
    while (got.size() > expected.size() && got.back() == 1) got.pop_back();
    if (got != expected) {
        throw FormatError(file_.path(), t->offset, "tensor '" + name + "'",
                          "tensor '" + name + "' has wrong shape; expected " + shape_string(expected) + ", got " +
                              shape_string(t->ne));
    }
    return *t;
}

WeightView WeightBinder::view(const gguf::TensorInfo& t) const {
    const PlacedTensor placed = placer_(t);
    WeightView w;
    w.data = placed.data;
    w.layout = placed.layout;
    w.type = t.type;
    w.n_cols = t.ne[0];
    w.n_rows = t.n_rows();
    w.row_bytes = row_bytes(t.type, t.ne[0]);
    return w;
}

WeightView WeightBinder::matrix(const std::string& name, int64_t n_cols, int64_t n_rows) const {
    const gguf::TensorInfo& t = find(name, {n_cols, n_rows});
    if (!backend_.supports(Op::matmul, t.type)) {
        throw UnsupportedError(file_.path() + ": tensor '" + name + "' has type " + std::string(type_name(t.type)) +
                               ", which the " + backend_.name() +
                               " backend cannot multiply yet; requantize the model (spool quantize) to a supported type "
                               "such as Q8_0, Q4_K or F16");
    }
    return view(t);
}

WeightView WeightBinder::table(const std::string& name, int64_t n_cols, int64_t n_rows) const {
    const gguf::TensorInfo& t = find(name, {n_cols, n_rows});
    if (!backend_.supports(Op::embed, t.type)) {
        throw UnsupportedError(file_.path() + ": tensor '" + name + "' has type " + std::string(type_name(t.type)) +
                               ", which the " + backend_.name() + " backend cannot read rows of");
    }
    return view(t);
}

const float* WeightBinder::vector(const std::string& name, int64_t n) const {
    const gguf::TensorInfo& t = find(name, {n});
    if (t.type != GgmlType::F32) {
        throw UnsupportedError(file_.path() + ": tensor '" + name + "' has type " + std::string(type_name(t.type)) +
                               "; spool reads norm weights, biases and rope factors as F32 only");
    }
    const PlacedTensor placed = placer_(t);
    if (placed.layout != WeightLayout::blocks) {
        throw UsageError(file_.path() + ": tensor '" + name + "' was placed in a regrouped layout; vectors must keep "
                         "the GGUF layout (a backend bug: report it)");
    }
    return static_cast<const float*>(placed.data);
}

}  // namespace spool::model
