// Scratch activations of one forward pass, in backend memory, sized for up to max_tokens tokens.
// Named for their contents (ARCHITECTURE.md "Naming"); every architecture of the llama family uses this set.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "model/hparams.h"

namespace spool::model {

class Activations {
public:
    // Throws ResourceError when the backend cannot allocate them.
    Activations(Backend& backend, const HParams& hp, int64_t max_tokens);

    int64_t max_tokens() const noexcept { return max_tokens_; }

    float* residual;   // [max_tokens, n_embd] the residual stream x
    float* normed;     // [max_tokens, n_embd] rms_norm(x)
    float* q;          // [max_tokens, n_head * head_dim]
    float* k;          // [max_tokens, n_head_kv * head_dim]
    float* v;          // [max_tokens, n_head_kv * head_dim]
    float* attn_out;   // [max_tokens, n_head * head_dim] attention output before its projection
    float* proj;       // [max_tokens, n_embd] output of attn_output / ffn_down, added to x
    float* ffn_gate;   // [max_tokens, n_ff]; becomes act(gate) * up in place
    float* ffn_up;     // [max_tokens, n_ff]

private:
    int64_t max_tokens_;
    Buffer buffer_;  // one allocation holding all of the above
};

}  // namespace spool::model
