// What a benchmark record says about a model file: name, size, mixture, architecture and shape, plus the weight
// bytes one decoded token reads (the roofline's denominator) and llama-bench's model_type / size / params.
#pragma once

#include <cstdint>
#include <string>

namespace spool::gguf {
class GgufFile;
}

namespace spool::bench {

struct ModelInfo {
    std::string path;
    std::string file_name;       // the path's last component
    uint64_t file_bytes = 0;     // all parts of a split model
    std::string file_type;       // general.file_type as a mixture name ("Q4_K_M"); "unknown" when absent
    std::string architecture;    // general.architecture
    int64_t n_layer = 0, n_embd = 0, n_vocab = 0;
    uint64_t weight_bytes = 0;   // every tensor (llama-bench's model_size)
    uint64_t n_params = 0;       // every tensor's elements (llama-bench's model_n_params)
    // Weight bytes one decode step reads: every tensor once, except that the token embedding contributes one row
    // unless it is also the output matrix (no output.weight: tied). KV-cache reads are not included.
    uint64_t weight_bytes_per_token = 0;
    std::string llama_model_type;  // llama-bench's model_type: "llama 1B Q4_K - Medium", "llama ?B Q8_0"
};

// Reads the facts from an opened file. Never throws for missing optional keys (they read as 0 / "unknown").
ModelInfo describe_model(const gguf::GgufFile& file);

// llama.cpp's name for a general.file_type value as llama_model_desc prints it ("Q4_K - Medium", "all F32");
// "unknown, may not work" for values it does not know (llama_model_ftype_name, snapshot 2025-02-20).
std::string llama_ftype_description(uint32_t file_type);
// llama.cpp's size label ("1B", "7B", "?B") for the architectures whose rule spool knows (llama, qwen2).
std::string llama_size_label(const std::string& arch, int64_t n_layer, int64_t n_embd, int64_t n_vocab,
                             int64_t n_head, int64_t n_head_kv);

}  // namespace spool::bench
