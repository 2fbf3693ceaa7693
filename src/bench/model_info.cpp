// Model facts for benchmark records. The llama-bench names follow llama.cpp at snapshot c392e50 (2025-02-20):
// llama_model_ftype_name (src/llama-model-loader.cpp) and the per-architecture size rules of
// llm_load_hparams (src/llama-model.cpp), so spool's model_type column reads like llama-bench's.
#include "bench/model_info.h"

#include <filesystem>

#include "gguf/file.h"
#include "quant/mixtures.h"

namespace spool::bench {

std::string llama_ftype_description(uint32_t file_type) {
    switch (file_type) {
        case 0: return "all F32";
        case 1: return "F16";
        case 32: return "BF16";
        case 2: return "Q4_0";
        case 3: return "Q4_1";
        case 8: return "Q5_0";
        case 9: return "Q5_1";
        case 7: return "Q8_0";
        case 10: return "Q2_K - Medium";
        case 21: return "Q2_K - Small";
        case 11: return "Q3_K - Small";
        case 12: return "Q3_K - Medium";
        case 13: return "Q3_K - Large";
        case 14: return "Q4_K - Small";
        case 15: return "Q4_K - Medium";
        case 16: return "Q5_K - Small";
        case 17: return "Q5_K - Medium";
        case 18: return "Q6_K";
        default: return "unknown, may not work";
    }
}

std::string llama_size_label(const std::string& arch, int64_t n_layer, int64_t n_embd, int64_t n_vocab,
                             int64_t n_head, int64_t n_head_kv) {
    if (arch == "llama") {
        switch (n_layer) {
            case 16: case 22: return "1B";
            case 26: case 28: return "3B";
            case 32: return n_vocab == 49152 ? "3B" : (n_vocab < 40000 ? "7B" : "8B");
            case 36: return "8B";
            case 40: return "13B";
            case 48: return "34B";
            case 60: return "30B";
            case 80: return n_head == n_head_kv ? "65B" : "70B";
            default: return "?B";
        }
    }
    if (arch == "qwen2") {
        switch (n_layer) {
            case 24: return n_embd == 1024 ? "0.5B" : "1B";
            case 28: return n_embd == 1536 ? "1.5B" : "7B";
            case 32: return "7B";
            case 36: return "3B";
            case 40: return n_head == 20 ? "4B" : "13B";
            case 48: return "14B";
            case 64: return "32B";
            case 80: return "70B";
            default: return "?B";
        }
    }
    return "?B";
}

ModelInfo describe_model(const gguf::GgufFile& file) {
    ModelInfo m;
    m.path = file.path();
    m.file_name = std::filesystem::path(file.path()).filename().string();
    m.file_bytes = file.file_bytes();
    m.architecture = file.architecture();
    const std::string prefix = m.architecture + ".";
    m.n_layer = static_cast<int64_t>(file.get_u64(prefix + "block_count", 0));
    m.n_embd = static_cast<int64_t>(file.get_u64(prefix + "embedding_length", 0));
    const int64_t n_head = static_cast<int64_t>(file.get_u64(prefix + "attention.head_count", 0));
    const int64_t n_head_kv = static_cast<int64_t>(file.get_u64(prefix + "attention.head_count_kv", n_head));

    uint32_t ftype = UINT32_MAX;
    if (const gguf::Value* v = file.find("general.file_type")) {
        const uint64_t id = v->as_u64("general.file_type");
        ftype = id <= UINT32_MAX ? static_cast<uint32_t>(id) : UINT32_MAX;
    }
    const std::string_view ft_name = quant::file_type_name(ftype);
    m.file_type = ft_name.empty() ? "unknown" : std::string(ft_name);

    const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
    const bool tied = file.find_tensor("output.weight") == nullptr;
    for (const gguf::TensorInfo& t : file.tensors()) {
        m.weight_bytes += t.n_bytes;
        m.n_params += t.n_elements;
    }
    m.weight_bytes_per_token = m.weight_bytes;
    if (embd != nullptr) {
        m.n_vocab = embd->n_rows();
        if (!tied && embd->n_rows() > 0) {
            m.weight_bytes_per_token -= embd->n_bytes;
            m.weight_bytes_per_token += embd->n_bytes / static_cast<uint64_t>(embd->n_rows());
        }
    }
    m.llama_model_type = m.architecture + " " +
                         llama_size_label(m.architecture, m.n_layer, m.n_embd, m.n_vocab, n_head, n_head_kv) + " " +
                         (ftype == UINT32_MAX ? std::string("(file type not recorded)") : llama_ftype_description(ftype));
    return m;
}

}  // namespace spool::bench
