// `spool quantize`: tiny-F16 to each mixture gives llama.cpp's file layout (tensor types, sizes, offsets, header
// bytes), data whose error matches llama.cpp's, and - as the kernels match llama.cpp's - the same bytes.
// Also: thread count independence, requantizing, and clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>

#include "cli_run.h"
#include "gguf/file.h"
#include "test_support.h"

namespace spool::testing {
namespace {

std::string tiny(const std::string& type) { return (shared_dir() / ("models/tiny/tiny-" + type + ".gguf")).string(); }

std::string file_bytes(const std::string& path) { return read_text(path); }

double rmse(const std::vector<float>& a, const std::vector<float>& b) {
    double sum = 0;
    for (size_t i = 0; i < a.size(); ++i) sum += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    return std::sqrt(sum / static_cast<double>(a.size()));
}

// Start of the data section: the file ends with the last tensor's bytes padded to the alignment.
uint64_t data_section_start(const gguf::GgufFile& f) {
    uint64_t end = 0;
    for (const gguf::TensorInfo& t : f.tensors()) {
        end = std::max(end, (t.offset + t.n_bytes + f.alignment() - 1) / f.alignment() * f.alignment());
    }
    return f.file_bytes() - end;
}

TEST(CliQuantize, Q4KMHasLlamaCppLayoutAndError) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-Q4_K_M.gguf");
    ScratchDir dir;
    const std::string out = dir / "tiny-Q4_K_M.gguf";
    const CliResult r = run_spool({"quantize", tiny("F16"), out, "Q4_K_M", "-t", "2"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find("wrote"), std::string::npos) << describe(r);
    EXPECT_NE(r.out.find("Q4_K_M, file type 15"), std::string::npos) << describe(r);

    const auto ours = gguf::GgufFile::open(out);
    const auto ref = gguf::GgufFile::open(tiny("Q4_K_M"));
    const auto source = gguf::GgufFile::open(tiny("F16"));
    EXPECT_EQ(ours.file_bytes(), ref.file_bytes());
    EXPECT_EQ(ours.get_u64("general.file_type", 0), 15u);
    EXPECT_EQ(ours.get_u64("general.quantization_version", 0), 2u);
    ASSERT_EQ(ours.tensors().size(), ref.tensors().size());
    for (size_t i = 0; i < ref.tensors().size(); ++i) {
        const gguf::TensorInfo& a = ours.tensors()[i];
        const gguf::TensorInfo& b = ref.tensors()[i];
        EXPECT_EQ(a.name, b.name) << "tensor " << i << ": llama-quantize's order is by layer, then by name";
        EXPECT_EQ(type_name(a.type), type_name(b.type)) << a.name;
        EXPECT_EQ(a.ne, b.ne) << a.name;
        EXPECT_EQ(a.n_bytes, b.n_bytes) << a.name;
        EXPECT_EQ(a.offset, b.offset) << a.name;
    }
    // Metadata and tensor infos: the same bytes as llama.cpp's file.
    const uint64_t header = data_section_start(ref);
    ASSERT_EQ(data_section_start(ours), header);
    EXPECT_EQ(file_bytes(out).substr(0, header), file_bytes(tiny("Q4_K_M")).substr(0, header));

    // Quantization error against the F16 source: within 1% of llama.cpp's, tensor by tensor.
    int compared = 0;
    for (const gguf::TensorInfo& t : ref.tensors()) {
        if (!type_info(t.type).is_quantized) continue;
        const std::vector<float> original = tensor_floats(source.tensor(t.name));
        const double ours_rmse = rmse(original, tensor_floats(ours.tensor(t.name)));
        const double ref_rmse = rmse(original, tensor_floats(t));
        EXPECT_GT(ref_rmse, 0) << t.name;
        EXPECT_NEAR(ours_rmse, ref_rmse, 0.01 * ref_rmse) << t.name << " (" << type_name(t.type) << ")";
        ++compared;
    }
    EXPECT_EQ(compared, 29);
}

class CliQuantizeType : public ::testing::TestWithParam<const char*> {};

// spool's quantizers match llama.cpp's reference quantizers bit for bit, so the whole file must be identical.
TEST_P(CliQuantizeType, SameBytesAsLlamaQuantize) {
    const std::string type = GetParam();
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-" + type + ".gguf");
    ScratchDir dir;
    const std::string out = dir / "out.gguf";
    const CliResult r = run_spool({"quantize", "--quiet", tiny("F16"), out, type});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(r.out.empty()) << "--quiet prints nothing: " << r.out;
    const std::string ours = file_bytes(out), ref = file_bytes(tiny(type));
    ASSERT_EQ(ours.size(), ref.size()) << type;
    size_t first_diff = 0;
    while (first_diff < ours.size() && ours[first_diff] == ref[first_diff]) ++first_diff;
    EXPECT_EQ(first_diff, ours.size()) << type << ": first differing byte at offset " << first_diff;
}

INSTANTIATE_TEST_SUITE_P(LlamaCppFiles, CliQuantizeType,
                         ::testing::Values("Q4_K_M", "Q5_K_M", "Q2_K", "Q6_K", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"),
                         [](const auto& info) { return std::string(info.param); });

TEST(CliQuantize, ThreadCountDoesNotChangeTheOutput) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F16.gguf");
    ScratchDir dir;
    ASSERT_EQ(run_spool({"quantize", "-q", "-t", "1", tiny("F16"), dir / "a.gguf", "q3_k_m"}).exit_code, 0);
    ASSERT_EQ(run_spool({"quantize", "-q", "-t", "3", tiny("F16"), dir / "b.gguf", "q3_k_m"}).exit_code, 0);
    EXPECT_TRUE(file_bytes(dir / "a.gguf") == file_bytes(dir / "b.gguf"));
    const auto f = gguf::GgufFile::open(dir / "a.gguf");
    EXPECT_EQ(f.get_u64("general.file_type", 0), 12u);
    EXPECT_EQ(type_name(f.tensor("blk.0.attn_v.weight").type), "Q5_K");
    EXPECT_EQ(type_name(f.tensor("blk.2.attn_v.weight").type), "Q4_K");
    EXPECT_EQ(type_name(f.tensor("blk.3.ffn_up.weight").type), "Q3_K");
}

TEST(CliQuantize, RequantizingWarnsAndWorks) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-Q8_0.gguf");
    ScratchDir dir;
    const std::string out = dir / "from-q8.gguf";
    const CliResult r = run_spool({"quantize", tiny("Q8_0"), out, "Q4_0"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.err.find("already quantized"), std::string::npos) << describe(r);
    const auto f = gguf::GgufFile::open(out);
    const auto source = gguf::GgufFile::open(tiny("F32"));
    EXPECT_EQ(type_name(f.tensor("token_embd.weight").type), "Q6_K");
    EXPECT_EQ(type_name(f.tensor("blk.1.ffn_down.weight").type), "Q4_0");
    EXPECT_EQ(type_name(f.tensor("blk.1.ffn_norm.weight").type), "F32");
    // Requantized data still approximates the original weights (Q4_0 error is about 10% of their scale).
    const auto& w = f.tensor("blk.1.ffn_down.weight");
    const std::vector<float> original = tensor_floats(source.tensor(w.name));
    double scale = 0;
    for (float v : original) scale += double(v) * v;
    scale = std::sqrt(scale / original.size());
    EXPECT_LT(rmse(original, tensor_floats(w)), 0.15 * scale);
}

TEST(CliQuantize, FloatTargetsAndPure) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F32.gguf");
    ScratchDir dir;
    ASSERT_EQ(run_spool({"quantize", "-q", tiny("F32"), dir / "bf16.gguf", "BF16"}).exit_code, 0);
    const auto bf16 = gguf::GgufFile::open(dir / "bf16.gguf");
    EXPECT_EQ(bf16.get_u64("general.file_type", 0), 32u);
    EXPECT_EQ(type_name(bf16.tensor("token_embd.weight").type), "BF16");
    EXPECT_EQ(type_name(bf16.tensor("output_norm.weight").type), "F32");

    ASSERT_EQ(run_spool({"quantize", "-q", "--pure", tiny("F16"), dir / "pure.gguf", "Q4_K_M"}).exit_code, 0);
    const auto pure = gguf::GgufFile::open(dir / "pure.gguf");
    EXPECT_EQ(type_name(pure.tensor("token_embd.weight").type), "Q4_K");
    EXPECT_EQ(type_name(pure.tensor("blk.3.attn_v.weight").type), "Q4_K");
}

TEST(CliQuantize, ClearErrors) {
    SPOOL_REQUIRE_SHARED("models/tiny/tiny-F16.gguf");
    ScratchDir dir;
    const CliResult bad_type = run_spool({"quantize", tiny("F16"), dir / "x.gguf", "Q4_K_X"});
    EXPECT_EQ(bad_type.exit_code, 2) << describe(bad_type);
    EXPECT_NE(bad_type.err.find("unknown TYPE 'Q4_K_X'"), std::string::npos) << describe(bad_type);
    EXPECT_NE(bad_type.err.find("Q4_K_M"), std::string::npos) << "lists the valid names: " << describe(bad_type);

    const CliResult missing = run_spool({"quantize", dir / "nope.gguf", dir / "x.gguf", "Q8_0"});
    EXPECT_EQ(missing.exit_code, 1) << describe(missing);
    EXPECT_NE(missing.err.find("nope.gguf"), std::string::npos) << describe(missing);

    const CliResult no_dir = run_spool({"quantize", tiny("F16"), dir / "no/such/dir/x.gguf", "Q8_0"});
    EXPECT_EQ(no_dir.exit_code, 1) << describe(no_dir);
    EXPECT_NE(no_dir.err.find("does not exist"), std::string::npos) << describe(no_dir);

    const CliResult same = run_spool({"quantize", tiny("F16"), tiny("F16"), "Q8_0"});
    EXPECT_EQ(same.exit_code, 2) << describe(same);

    const std::string vocab = (shared_dir() / "reference/tokenizer/ggml-vocab-gpt-2.gguf").string();
    const CliResult empty = run_spool({"quantize", vocab, dir / "x.gguf", "Q8_0"});
    EXPECT_EQ(empty.exit_code, 2) << describe(empty);
    EXPECT_NE(empty.err.find("no tensors"), std::string::npos) << describe(empty);
    EXPECT_FALSE(std::filesystem::exists(dir / "x.gguf"));
}

}  // namespace
}  // namespace spool::testing
