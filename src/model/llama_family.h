// The llama-family decoder every supported architecture is: embed, n_layer x (attention block, SwiGLU feed-forward),
// output head. Architectures differ only in the switches below; each arch_<name>.cpp names its own.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "model/model.h"
#include "model/model_binder.h"

namespace spool::model {

struct LlamaFamilyTraits {
    RopeMode rope_mode = RopeMode::norm;
    bool rope_freqs = false;  // binds the optional rope_freqs.weight (llama3 rope scaling factors)
    bool qkv_bias = false;    // binds attn_{q,k,v}.bias (qwen2)
    bool qk_norm = false;     // binds attn_{q,k}_norm.weight: an RMS norm over each q and k head (qwen3)
};

// Reads the hyperparameters and binds every tensor on its stage's backend; throws what WeightBinder throws
// (FormatError naming the tensor) and UsageError when the stages do not fit the layer count.
std::unique_ptr<Model> load_llama_family(const ModelBinder& binder, const LlamaFamilyTraits& traits);

}  // namespace spool::model
