// Carves the activation scratch out of one backend allocation, each piece 64-byte aligned.
#include "model/activations.h"

#include <initializer_list>
#include <utility>

namespace spool::model {

Activations::Activations(Backend& backend, const HParams& hp, int64_t max_tokens) : max_tokens_(max_tokens) {
    const std::initializer_list<std::pair<float**, int64_t>> pieces = {
        {&residual, hp.n_embd}, {&normed, hp.n_embd}, {&q, hp.q_width()},        {&k, hp.kv_width()},
        {&v, hp.kv_width()},    {&attn_out, hp.q_width()}, {&proj, hp.n_embd}, {&ffn_gate, hp.n_ff},
        {&ffn_up, hp.n_ff},
    };
    auto aligned_bytes = [&](int64_t width) {
        return (static_cast<size_t>(width * max_tokens) * sizeof(float) + 63) / 64 * 64;
    };
    size_t total = 0;
    for (const auto& piece : pieces) total += aligned_bytes(piece.second);
    buffer_ = backend.allocate(total);
    size_t offset = 0;
    for (const auto& piece : pieces) {
        *piece.first = reinterpret_cast<float*>(static_cast<uint8_t*>(buffer_.data()) + offset);
        offset += aligned_bytes(piece.second);
    }
}

}  // namespace spool::model
