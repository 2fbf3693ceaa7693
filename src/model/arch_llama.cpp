// The llama architecture (Touvron et al. 2023): pre-norm RMSNorm blocks, rotary embeddings on adjacent pairs
// (llama.cpp's rope "NORM", the GGUF q/k weights are permuted for it), grouped-query attention, SwiGLU.
// Covers Llama 2/3 (llama3's rope_freqs factors), TinyLlama, Mistral and SmolLM; output tied or separate.
#include "model/llama_family.h"
#include "model/registry.h"

namespace spool::model {

std::unique_ptr<Model> load_llama(const ModelBinder& binder) {
    LlamaFamilyTraits traits;
    traits.rope_mode = RopeMode::norm;
    traits.rope_freqs = true;
    traits.qkv_bias = false;
    traits.qk_norm = false;
    return load_llama_family(binder, traits);
}

}  // namespace spool::model
