// Test helpers for the tokenizer: the shared reference vocabularies and their llama.cpp test vectors
// (../shared/reference/tokenizer, README section 7), loaded once per process.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "test_support.h"
#include "tokenizer/tokenizer.h"

namespace spool::testing {

inline const std::vector<std::string>& vocab_names() {
    static const std::vector<std::string> names = {"llama-spm", "phi-3",     "gpt-2",  "deepseek-llm", "deepseek-coder",
                                                   "falcon",    "starcoder", "refact", "mpt"};
    return names;
}

inline std::filesystem::path vocab_path(const std::string& name) {
    return shared_dir() / "reference" / "tokenizer" / ("ggml-vocab-" + name + ".gguf");
}

inline std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// The tokenizer of a shared vocabulary or model file, built once.
inline const tokenizer::Tokenizer& shared_tokenizer(const std::filesystem::path& path) {
    static std::map<std::string, std::unique_ptr<tokenizer::Tokenizer>> cache;
    auto& slot = cache[path.string()];
    if (!slot) {
        const gguf::GgufFile file = gguf::GgufFile::open(path);
        slot = std::make_unique<tokenizer::Tokenizer>(file);
    }
    return *slot;
}

inline std::string ids_text(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += " " + std::to_string(id);
    return s;
}

inline std::string escaped(const std::string& text) {
    std::string out;
    char buf[8];
    for (unsigned char c : text) {
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            out += static_cast<char>(c);
        } else {
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return out;
}

}  // namespace spool::testing
