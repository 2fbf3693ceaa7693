// The qwen2 architecture (Qwen2, Qwen2.5): llama's block with biases on the q, k and v projections and
// rotary embeddings on halves (llama.cpp's rope "NEOX"); output tied (small models) or separate.
#include "model/llama_family.h"
#include "model/registry.h"

namespace spool::model {

std::unique_ptr<Model> load_qwen2(const ModelBinder& binder) {
    LlamaFamilyTraits traits;
    traits.rope_mode = RopeMode::neox;
    traits.rope_freqs = false;
    traits.qkv_bias = true;
    traits.qk_norm = false;
    return load_llama_family(binder, traits);
}

}  // namespace spool::model
