// The legacy and float kernels on llama.cpp's own files (../shared/models/tiny, made by llama-quantize from
// tiny-F16.gguf, see ../shared/reference/README.md section 2): dequantized tensors against the F32 master, and
// spool's quantizers against llama.cpp's bytes and error on the same F16 source.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/half.h"
#include "gguf/file.h"
#include "quant/legacy_test_support.h"
#include "quant/types.h"
#include "test_support.h"

namespace spool::quant {
namespace {

using gguf::GgufFile;
using gguf::TensorInfo;

std::string tiny(const std::string& type) { return "models/tiny/tiny-" + type + ".gguf"; }

GgufFile open_tiny(const std::string& type) { return GgufFile::open(spool::testing::shared_dir() / tiny(type)); }

bool is_legacy(GgmlType t) {
    return t == GgmlType::Q4_0 || t == GgmlType::Q4_1 || t == GgmlType::Q5_0 || t == GgmlType::Q5_1 ||
           t == GgmlType::Q8_0;
}

bool in_this_area(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || is_legacy(t); }

// A whole tensor as float: rows of whole blocks are contiguous, so the tensor dequantizes as one long row.
std::vector<float> to_floats(const TensorInfo& t) {
    std::vector<float> out(t.n_elements);
    type_info(t.type).dequantize_row(t.data, out.data(), static_cast<int64_t>(t.n_elements));
    return out;
}

double rmse(const std::vector<float>& a, const std::vector<float>& b) {
    double sum = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double diff = static_cast<double>(a[i]) - b[i];
        sum += diff * diff;
    }
    return std::sqrt(sum / static_cast<double>(a.size()));
}

// Bounds per type, element by element, for a tensor of file X against the F32 master x:
// - F32: exact.
// - F16: round to nearest, |y - x| <= max(|x| * 2^-11, 2^-25).
// - Q4_0/Q4_1/Q5_0/Q5_1/Q8_0: llama-quantize read x16 = fp16(x), so |y - x| <= |x16 - x| + the legacy bound at x16
//   with the step of x16's block (legacy_test_support.h allowed_error: half a step, one step at Q4_0/Q5_0's clamped
//   top level, plus fp16 rounding of the scale and minimum). The RMSE is also held to kRmseOverUniformNoise times
//   step / sqrt(12) plus the RMS of the F16 rounding.
TEST(LegacyFiles, DequantizedTensorsMatchTheF32Master) {
    SPOOL_REQUIRE_SHARED(tiny("F32"));
    const GgufFile master = open_tiny("F32");
    for (const std::string file_type : {"F16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"}) {
        SPOOL_REQUIRE_SHARED(tiny(file_type));
        const GgufFile file = open_tiny(file_type);
        int checked = 0, skipped = 0;
        for (const TensorInfo& t : file.tensors()) {
            if (!in_this_area(t.type)) {
                ++skipped;  // K-quant tensors (token_embd is Q6_K in the 4/5-bit files): quant-k's tests
                continue;
            }
            SCOPED_TRACE(file_type + " " + t.name + " (" + std::string(type_name(t.type)) + ")");
            const TensorInfo& m = master.tensor(t.name);
            ASSERT_EQ(m.n_elements, t.n_elements);
            ASSERT_EQ(m.type, GgmlType::F32);
            const std::vector<float> y = to_floats(t);
            const std::vector<float> x = to_floats(m);
            std::vector<float> x16(x.size());
            for (size_t i = 0; i < x.size(); ++i) x16[i] = half_to_float(float_to_half(x[i]));
            if (t.type == GgmlType::F32) {
                ASSERT_EQ(y, x);
            } else if (t.type == GgmlType::F16) {
                for (size_t i = 0; i < x.size(); ++i) {
                    ASSERT_LE(std::fabs(static_cast<double>(y[i]) - x[i]),
                              std::max(std::fabs(x[i]) * testing::kHalfRel, testing::kHalfAbs))
                        << "at " << i << ": master " << x[i] << ", file " << y[i];
                }
            } else {
                const testing::LegacyType& lt = testing::legacy_type(t.type);
                for (size_t b = 0; b < x.size() / 32; ++b) {
                    const testing::BlockScale s = testing::expected_scale(lt, x16.data() + 32 * b);
                    for (size_t i = 32 * b; i < 32 * b + 32; ++i) {
                        const double bound = testing::allowed_error(lt, s, x16[i]) + std::fabs(x16[i] - x[i]);
                        ASSERT_LE(std::fabs(static_cast<double>(y[i]) - x[i]), bound)
                            << "at " << i << ": master " << x[i] << ", file " << y[i] << ", step " << s.d;
                    }
                }
                const double noise = testing::uniform_noise_rms(lt, x16);
                EXPECT_LE(rmse(y, x), testing::kRmseOverUniformNoise * noise + rmse(x16, x))
                    << "uniform-noise RMS " << noise;
            }
            ++checked;
        }
        EXPECT_GT(checked, 0) << file_type << " has no tensor of a type in this area";
        std::cout << "[ info     ] tiny-" << file_type << ": " << checked << " tensors checked, " << skipped
                  << " of other types skipped\n";
    }
}

// spool's quantizer on llama-quantize's input (the F16 file's tensor as float) against llama.cpp's tensor of the
// same name: spool's RMSE may exceed llama.cpp's by at most 5%. The share of byte-identical blocks is reported:
// it is 100% when the algorithm and its float operations are the same.
TEST(LegacyFiles, QuantizersMatchLlamaCpp) {
    constexpr double kRmseOverLlamaCpp = 1.05;
    SPOOL_REQUIRE_SHARED(tiny("F16"));
    const GgufFile source = open_tiny("F16");
    for (const std::string file_type : {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"}) {
        SPOOL_REQUIRE_SHARED(tiny(file_type));
        const GgufFile file = open_tiny(file_type);
        size_t blocks = 0, identical = 0;
        for (const TensorInfo& t : file.tensors()) {
            if (!is_legacy(t.type)) continue;
            SCOPED_TRACE(file_type + " " + t.name + " (" + std::string(type_name(t.type)) + ")");
            const TensorInfo& src = source.tensor(t.name);
            ASSERT_EQ(src.type, GgmlType::F16);
            ASSERT_EQ(src.n_elements, t.n_elements);
            const testing::LegacyType& lt = testing::legacy_type(t.type);
            const std::vector<float> x = to_floats(src);
            const std::vector<uint8_t> mine = testing::quantize(lt, x);
            ASSERT_EQ(mine.size(), t.n_bytes);
            size_t tensor_identical = 0;
            for (size_t b = 0; b < mine.size() / lt.block_bytes; ++b) {
                const size_t at = b * lt.block_bytes;
                tensor_identical += std::memcmp(mine.data() + at, t.data + at, lt.block_bytes) == 0;
            }
            const double my_rmse = rmse(testing::dequantize(lt, mine), x);
            const double their_rmse = rmse(to_floats(t), x);
            EXPECT_LE(my_rmse, kRmseOverLlamaCpp * their_rmse) << "llama.cpp's RMSE " << their_rmse;
            const size_t n_blocks = mine.size() / lt.block_bytes;
            if (tensor_identical != n_blocks) {
                std::cout << "[ info     ] tiny-" << file_type << " " << t.name << ": " << n_blocks - tensor_identical
                          << " of " << n_blocks << " blocks differ from llama.cpp's; RMSE spool " << my_rmse
                          << ", llama.cpp " << their_rmse << "\n";
            }
            blocks += n_blocks;
            identical += tensor_identical;
        }
        ASSERT_GT(blocks, 0u) << file_type << " holds no legacy tensor";
        const double share = static_cast<double>(identical) / static_cast<double>(blocks);
        std::cout << "[ info     ] tiny-" << file_type << ": " << identical << " of " << blocks
                  << " blocks byte-identical to llama.cpp's (" << 100.0 * share << "%)\n";
        ::testing::Test::RecordProperty("identical_blocks_" + file_type, std::to_string(share));
    }
}

}  // namespace
}  // namespace spool::quant
