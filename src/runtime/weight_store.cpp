// Weight placement: in place for host backends, one upload per tensor otherwise.
#include "runtime/weight_store.h"

namespace spool::runtime {

model::TensorPlacer WeightStore::placer() {
    return [this](const gguf::TensorInfo& tensor) { return place(tensor); };
}

model::PlacedTensor WeightStore::place(const gguf::TensorInfo& tensor) {
    if (backend_.uses_host_memory()) return tensor.data;
    auto it = uploads_.find(&tensor);
    if (it == uploads_.end()) {
        Buffer buffer = backend_.allocate(tensor.n_bytes);
        const WeightLayout layout =
            backend_.upload_weight(buffer.data(), tensor.data, tensor.n_bytes, tensor.type, tensor.ne[0]);
        uploaded_bytes_ += tensor.n_bytes;
        it = uploads_.emplace(&tensor, Upload{std::move(buffer), layout}).first;
    }
    return {it->second.buffer.data(), it->second.layout};
}

}  // namespace spool::runtime
