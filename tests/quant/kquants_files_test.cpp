// K-quants against llama.cpp's own files (../shared/models/tiny, made by llama-quantize from tiny-F16.gguf without an
// imatrix; see ../shared/reference/README.md section 2): every K-quant tensor dequantizes to within its type's error
// of the F32 master, and spool's quantizer, run on the F16 source, is as accurate as llama-quantize and (logged)
// byte-identical to it block by block.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/half.h"
#include "gguf/file.h"
#include "quant/types.h"
#include "test_support.h"
#include "tolerances.h"

namespace spool::quant {
namespace {

using gguf::GgufFile;
using gguf::TensorInfo;

const char* const kQuantizedFiles[] = {"tiny-Q6_K.gguf", "tiny-Q5_K_M.gguf", "tiny-Q4_K_M.gguf", "tiny-Q2_K.gguf"};

bool is_k_quant(GgmlType t) {
    return t == GgmlType::Q2_K || t == GgmlType::Q3_K || t == GgmlType::Q4_K || t == GgmlType::Q5_K ||
           t == GgmlType::Q6_K;
}

double rmse_over_sigma_bound(GgmlType t) {
    switch (t) {
        case GgmlType::Q2_K: return tolerance::kRmseOverSigmaQ2_K;
        case GgmlType::Q3_K: return tolerance::kRmseOverSigmaQ3_K;
        case GgmlType::Q4_K: return tolerance::kRmseOverSigmaQ4_K;
        case GgmlType::Q5_K: return tolerance::kRmseOverSigmaQ5_K;
        default: return tolerance::kRmseOverSigmaQ6_K;
    }
}

// A tensor's values as floats, through the type table's dequantizer (F32 and F16 included).
std::vector<float> to_floats(const TensorInfo& t) {
    const TypeInfo& info = type_info(t.type);
    if (info.dequantize_row == nullptr) throw std::runtime_error("no dequantizer for " + std::string(info.name));
    std::vector<float> out(t.n_elements);
    info.dequantize_row(t.data, out.data(), static_cast<int64_t>(t.n_elements));
    return out;
}

double standard_deviation(const std::vector<float>& x) {
    double sum = 0, sum_sq = 0;
    for (float v : x) sum += v;
    const double mean = sum / static_cast<double>(x.size());
    for (float v : x) sum_sq += (v - mean) * (v - mean);
    return std::sqrt(sum_sq / static_cast<double>(x.size()));
}

std::filesystem::path tiny(const std::string& file) { return testing::shared_dir() / "models/tiny" / file; }

class KQuantFiles : public ::testing::TestWithParam<const char*> {};

TEST_P(KQuantFiles, DequantizedTensorsMatchTheF32Master) {
    SPOOL_REQUIRE_SHARED(std::string("models/tiny/") + GetParam());
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    const GgufFile quantized = GgufFile::open(tiny(GetParam()));
    const GgufFile master = GgufFile::open(tiny("tiny-F32.gguf"));
    int checked = 0;
    for (const TensorInfo& t : quantized.tensors()) {
        if (!is_k_quant(t.type)) continue;
        const TensorInfo& m = master.tensor(t.name);
        ASSERT_EQ(m.ne, t.ne) << t.name;
        const auto expected = to_floats(m);
        const auto got = to_floats(t);
        const auto c = testing::compare<float, float>(expected, got);
        const double sigma = standard_deviation(expected);
        EXPECT_LE(c.rmse, rmse_over_sigma_bound(t.type) * sigma)
            << GetParam() << " " << t.name << " (" << type_name(t.type) << ", sigma " << sigma << "): " << c.report();
        ++checked;
    }
    EXPECT_GT(checked, 0) << GetParam() << " holds no K-quant tensor";
}

TEST_P(KQuantFiles, SpoolQuantizerMatchesLlamaQuantize) {
    SPOOL_REQUIRE_SHARED(std::string("models/tiny/") + GetParam());
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F16.gguf");
    const GgufFile quantized = GgufFile::open(tiny(GetParam()));
    const GgufFile source = GgufFile::open(tiny("tiny-F16.gguf"));
    size_t blocks = 0, identical_blocks = 0;
    for (const TensorInfo& t : quantized.tensors()) {
        if (!is_k_quant(t.type)) continue;
        const TypeInfo& info = type_info(t.type);
        const TensorInfo& s = source.tensor(t.name);
        ASSERT_EQ(s.ne, t.ne) << t.name;
        const auto x = to_floats(s);  // llama-quantize also widens F16 to F32 before quantizing

        std::vector<uint8_t> mine(t.n_bytes);
        ASSERT_EQ(row_bytes(t.type, static_cast<int64_t>(x.size())), mine.size()) << t.name;
        info.quantize_row(x.data(), mine.data(), static_cast<int64_t>(x.size()));
        std::vector<float> mine_values(x.size());
        info.dequantize_row(mine.data(), mine_values.data(), static_cast<int64_t>(x.size()));

        const auto llama = testing::compare<float, float>(x, to_floats(t));
        const auto spool = testing::compare<float, float>(x, mine_values);
        EXPECT_LE(spool.rmse, tolerance::kQuantizerRmseOverLlama * llama.rmse)
            << GetParam() << " " << t.name << " (" << info.name << "): spool " << spool.report() << "; llama.cpp "
            << llama.report();

        const size_t n_blocks = mine.size() / info.block_bytes;
        size_t same = 0;
        for (size_t b = 0; b < n_blocks; ++b) {
            same += std::memcmp(mine.data() + b * info.block_bytes, t.data + b * info.block_bytes, info.block_bytes) == 0;
        }
        if (same != n_blocks) {
            std::printf("[ note     ] %s %s (%s): %zu of %zu blocks byte-identical to llama.cpp\n", GetParam(),
                        t.name.c_str(), std::string(info.name).c_str(), same, n_blocks);
        }
        blocks += n_blocks;
        identical_blocks += same;
    }
    ASSERT_GT(blocks, 0u) << GetParam() << " holds no K-quant tensor";
    std::printf("[ note     ] %s: %zu of %zu K-quant blocks (%.3f%%) byte-identical to llama-quantize\n", GetParam(),
                identical_blocks, blocks, 100.0 * static_cast<double>(identical_blocks) / static_cast<double>(blocks));
    RecordProperty("identical_block_fraction",
                   std::to_string(static_cast<double>(identical_blocks) / static_cast<double>(blocks)));
}

INSTANTIATE_TEST_SUITE_P(TinyModels, KQuantFiles, ::testing::ValuesIn(kQuantizedFiles), [](const auto& info) {
    std::string name = info.param;
    name = name.substr(5, name.size() - 10);  // tiny-Q4_K_M.gguf -> Q4_K_M
    return name;
});

}  // namespace
}  // namespace spool::quant
