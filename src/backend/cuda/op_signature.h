// The words that name a CUDA backend op in a decode step's signature (step_graph.h): its OpId, then each argument as
// one 64-bit word (pointers by address, floats by their bits), so that two steps issuing the same ops with the same
// arguments have equal signatures and the recorded graph can be replayed.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "backend/cuda/kernels/launch.h"

namespace spool::cuda::signature {

inline uint64_t word(float f) {
    uint32_t bits = 0;
    std::memcpy(&bits, &f, sizeof bits);
    return bits;
}
template <class T>
uint64_t word(T v) {
    if constexpr (std::is_pointer_v<T>) {
        return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(v));
    } else {
        return static_cast<uint64_t>(v);
    }
}

enum OpId : uint64_t {
    kEmbed = 1,
    kRmsNorm,
    kMatvec,
    kRope,
    kKvAppend,
    kAttention,
    kGlu,
    kAdd,
    kArgmax,
    kRopeKvAppend,
    kMatvecAdd,
    kMatvecGlu,
    kMatvecBatch,
    kTopK,
    kMatvecAddNorm,
};

// The words of a rope + KV store epilogue in an op's signature (none without one).
inline void append_rope_kv(std::vector<uint64_t>& signature, const MatvecRopeKv* rk) {
    if (rk == nullptr) return;
    signature.insert(signature.end(),
                     {word(rk->positions), word(rk->rope.mode), word(rk->rope.n_dims), word(rk->rope.freq_base),
                      word(rk->rope.freq_scale), word(rk->rope.freq_factors), word(rk->head_dim), word(rk->cache.k),
                      word(rk->cache.v), word(rk->cache.type), word(rk->cache.n_ctx), word(rk->cache.row_width),
                      word(rk->cache.row_bytes), word(rk->role[0]), word(rk->role[1]), word(rk->role[2])});
}

// The words of a DeferredNorm that a matvec reads (none without one).
inline void append_deferred_norm(std::vector<uint64_t>& signature, const DeferredNorm* norm) {
    if (norm == nullptr) return;
    signature.insert(signature.end(),
                     {word(norm->residual), word(norm->weight), word(norm->eps), word(norm->out)});
}

}  // namespace spool::cuda::signature
