// The qwen3 architecture (Qwen3 dense): llama's block without projection biases, plus an RMS norm over each
// query and key head before the rotary embedding (on halves, llama.cpp's "NEOX"). The head size comes from
// attention.key_length and may differ from n_embd / n_head.
#include "model/llama_family.h"
#include "model/registry.h"

namespace spool::model {

std::unique_ptr<Model> load_qwen3(const ModelBinder& binder) {
    LlamaFamilyTraits traits;
    traits.rope_mode = RopeMode::neox;
    traits.rope_freqs = false;
    traits.qkv_bias = false;
    traits.qk_norm = true;
    return load_llama_family(binder, traits);
}

}  // namespace spool::model
