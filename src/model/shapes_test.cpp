// Shapes: each table row is self-consistent, gives the parameter count its model card states, and (with
// llama.cpp's mixtures) the tensor bytes of llama.cpp's files of that shape in ../shared/anchors.md.
#include "model/shapes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "quant/mixtures.h"
#include "quant/types.h"

namespace spool::model {
namespace {

const ModelShape& shape(std::string_view name) {
    const ModelShape* s = find_shape(name);
    if (!s) throw std::runtime_error("no shape " + std::string(name));
    return *s;
}

TEST(Shapes, RowsAreConsistent) {
    std::set<std::string_view> names;
    for (const ModelShape& s : all_shapes()) {
        EXPECT_TRUE(names.insert(s.name).second) << "duplicate " << s.name;
        EXPECT_EQ(s.n_embd % s.n_head, 0) << s.name;
        EXPECT_EQ(s.n_head % s.n_head_kv, 0) << s.name;
        EXPECT_EQ(s.head_dim() % 2, 0) << s.name;
        EXPECT_GT(s.n_layer, 0) << s.name;
        EXPECT_TRUE(s.arch == "llama" || s.arch == "qwen2") << s.name;
        EXPECT_EQ(find_shape(s.name), &s);
    }
    EXPECT_EQ(find_shape("LLAMA2-7B"), &shape("llama2-7b"));
    EXPECT_EQ(find_shape("llama2-13b"), nullptr);
}

// Parameter counts as the models' cards / safetensors index state them (rope_freqs is not a weight there).
TEST(Shapes, ParameterCountsMatchTheRealModels) {
    struct Known { const char* name; int64_t params; };
    for (const Known& k : {Known{"tinyllama-1.1b", 1100048384}, Known{"llama2-7b", 6738415616},
                           Known{"llama3.2-1b", 1235814400}, Known{"llama3.1-8b", 8030261248},
                           Known{"mistral-7b", 7241732096}, Known{"qwen2.5-0.5b", 494032768},
                           Known{"qwen2.5-7b", 7615616512}}) {
        const ModelShape& s = shape(k.name);
        const int64_t rope = s.rope_scaling.factor != 0 ? s.head_dim() / 2 : 0;
        EXPECT_EQ(parameter_count(s, s.n_vocab) - rope, k.params) << k.name;
    }
}

TEST(Shapes, TensorListsUseLlamaCppNames) {
    const auto llama = tensor_specs(shape("llama2-7b"), 32000);
    EXPECT_EQ(llama.size(), 1u + 32 * 9 + 2);
    EXPECT_EQ(llama.front().name, "token_embd.weight");
    EXPECT_EQ(llama.front().ne, (std::vector<int64_t>{4096, 32000}));
    EXPECT_EQ(llama.back().name, "output.weight");
    EXPECT_EQ(llama[9].name, "blk.0.ffn_down.weight");
    EXPECT_EQ(llama[9].ne, (std::vector<int64_t>{11008, 4096}));

    const auto qwen = tensor_specs(shape("qwen2.5-0.5b"), 151936);
    EXPECT_EQ(qwen.size(), 1u + 24 * 12 + 1) << "tied: no output.weight";
    EXPECT_EQ(qwen[3].name, "blk.0.attn_q.bias");
    EXPECT_EQ(qwen[5].name, "blk.0.attn_k.bias");
    EXPECT_EQ(qwen[5].ne, (std::vector<int64_t>{128}));
    EXPECT_EQ(qwen.back().name, "output_norm.weight");

    const auto l3 = tensor_specs(shape("llama3.2-1b"), 128256);
    EXPECT_EQ(l3.front().name, "rope_freqs.weight");
    EXPECT_EQ(l3.front().ne, (std::vector<int64_t>{32}));
}

TEST(Shapes, Llama3RopeFactorsRunFromOneToTheScaleFactor) {
    const std::vector<float> f = llama3_rope_factors(shape("llama3.1-8b"));
    ASSERT_EQ(f.size(), 64u);
    EXPECT_EQ(f.front(), 1.0f) << "the fastest pairs are not scaled";
    EXPECT_EQ(f.back(), 8.0f) << "the slowest pairs are scaled by the factor";
    int blended = 0;
    for (size_t i = 1; i < f.size(); ++i) {
        EXPECT_GE(f[i], f[i - 1]) << "factors grow with the wavelength, at " << i;
        blended += f[i] > 1.0f && f[i] < 8.0f;
    }
    EXPECT_GT(blended, 0);
    EXPECT_TRUE(llama3_rope_factors(shape("llama2-7b")).empty());
    // Pair 30: wavelength 2 pi 500000^(60/128) = 2948.3 lies between 8192/4 and 8192/1, so it is blended:
    // smooth = (8192/2948.3 - 1)/3 and the factor 1/((1 - smooth)/8 + smooth) = 1.55341.
    EXPECT_NEAR(f[30], 1.55341, 1e-4);
}

// Tensor bytes of a shape under a mixture, each tensor padded to 32 bytes as in a GGUF file.
uint64_t tensor_bytes(const ModelShape& s, const char* mixture) {
    const auto target = quant::parse_quant_target(mixture);
    const quant::ModelFacts facts{std::string(s.arch), static_cast<int>(s.n_layer), static_cast<int>(s.n_head),
                                  static_cast<int>(s.n_head_kv), 0, !s.tied_embeddings};
    uint64_t total = 0;
    for (const TensorSpec& t : tensor_specs(s, s.n_vocab)) {
        const GgmlType type = quant::choose_tensor_type(*target, facts, t.name, t.ne, GgmlType::F32).type;
        int64_t rows = 1;
        for (size_t d = 1; d < t.ne.size(); ++d) rows *= t.ne[d];
        total += (row_bytes(type, t.ne[0]) * static_cast<uint64_t>(rows) + 31) / 32 * 32;
    }
    return total;
}

// ../shared/anchors.md lists llama.cpp's files of these shapes. A file is its header plus its tensor bytes, and
// the header is the same for every quantized type of one shape, so file bytes minus tensor bytes must agree.
// This checks the mixture rules on 22- and 32-layer models, which the 4-layer tiny files cannot.
TEST(Shapes, TensorBytesMatchLlamaCppFilesInAnchors) {
    struct Anchor { const char* shape; const char* type; uint64_t file_bytes; };
    const Anchor anchors[] = {
        {"tinyllama-1.1b", "F16", 2201016960},    {"tinyllama-1.1b", "Q8_0", 1169808032},
        {"tinyllama-1.1b", "Q6_K", 903412384},    {"tinyllama-1.1b", "Q4_K_M", 667814560},
        {"llama2-7b", "F16", 13478104960},        {"llama2-7b", "Q8_0", 7161089952},
        {"llama2-7b", "Q4_0", 3825807264},        {"llama2-7b", "Q4_K_M", 4081004448},
    };
    for (const char* name : {"tinyllama-1.1b", "llama2-7b"}) {
        std::set<uint64_t> quantized_headers;
        uint64_t f16_header = 0;
        for (const Anchor& a : anchors) {
            if (std::string_view(a.shape) != name) continue;
            const uint64_t tensors = tensor_bytes(shape(name), a.type);
            ASSERT_LT(tensors, a.file_bytes) << name << " " << a.type;
            const uint64_t header = a.file_bytes - tensors;
            EXPECT_LT(header, 2u << 20) << name << " " << a.type << ": header implausibly large";
            if (std::string_view(a.type) == "F16") {
                f16_header = header;
            } else {
                quantized_headers.insert(header);
            }
        }
        ASSERT_EQ(quantized_headers.size(), 1u) << name << ": file minus tensor bytes differs between types, so "
                                                << "some tensor got another type than in llama.cpp's file";
        // Quantizing adds one key, general.quantization_version (44 bytes), and the header is padded to 32.
        const uint64_t added = *quantized_headers.begin() - f16_header;
        EXPECT_TRUE(added > 44 - 32 && added < 44 + 32) << name << ": quantized header - F16 header = " << added;
    }
}

}  // namespace
}  // namespace spool::model
