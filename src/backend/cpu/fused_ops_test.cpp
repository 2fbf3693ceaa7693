// CpuBackend's fused ops (one rounding of the activations, one parallel loop, the add / glu per chunk) against its
// own plain ops composed: the same bits, so a decode step (which takes the composition) reproduces prefill rows.
// Both KV stores (kv_append, rope_kv_append) write the reference quantizer's bytes, which the CUDA backend also writes.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/backend_cpu.h"
#include "backend/cpu/kernels/dispatch.h"
#include "quant/types.h"
#include "test_support.h"

namespace spool {
namespace {

using testing::random_floats;

struct Matrix {
    std::vector<uint8_t> bytes;
    WeightView view;
};

Matrix random_matrix(GgmlType type, int64_t n_in, int64_t n_out, uint64_t seed) {
    Matrix m;
    const size_t stride = row_bytes(type, n_in);
    m.bytes.resize(stride * static_cast<size_t>(n_out));
    const std::vector<float> values = random_floats(static_cast<size_t>(n_in * n_out), seed, 0.5f);
    for (int64_t r = 0; r < n_out; ++r) {
        type_info(type).quantize_row(values.data() + r * n_in, m.bytes.data() + static_cast<size_t>(r) * stride, n_in);
    }
    m.view = WeightView{m.bytes.data(), type, n_in, n_out, stride};
    return m;
}

// Bitwise equality, reporting the first differing index.
void expect_same_bits(const std::vector<float>& expected, const std::vector<float>& actual, const std::string& what) {
    ASSERT_EQ(expected.size(), actual.size()) << what;
    for (size_t i = 0; i < expected.size(); ++i) {
        if (std::memcmp(&expected[i], &actual[i], sizeof(float)) != 0) {
            ADD_FAILURE() << what << ": index " << i << " composed " << expected[i] << " fused " << actual[i];
            return;
        }
    }
}

struct Case {
    GgmlType a, b, c;  // q / gate, k / up, v (Q4_K_M keeps v in Q6_K beside Q4_K q and k)
};

TEST(CpuFusedOps, EqualTheirCompositionBitForBit) {
    const Case cases[] = {{GgmlType::Q4_K, GgmlType::Q4_K, GgmlType::Q6_K},
                          {GgmlType::Q8_0, GgmlType::Q8_0, GgmlType::Q4_K},
                          {GgmlType::Q4_0, GgmlType::Q4_0, GgmlType::F16}};
    const int64_t n_in = 512, n_out = 131, n_ff = 259;  // odd row counts: partial panels and chunks
    int checked = 0;
    for (const size_t threads : {size_t{1}, size_t{2}, size_t{3}}) {
        CpuBackend backend(CpuBackendOptions{threads, ""});
        for (const Case& c : cases) {
            for (const int64_t n_tokens : {int64_t{1}, int64_t{3}, int64_t{17}, int64_t{64}}) {
                const uint64_t seed = 300 + static_cast<uint64_t>(c.a) * 10 + static_cast<uint64_t>(n_tokens);
                const Matrix wa = random_matrix(c.a, n_in, n_out, seed);
                const Matrix wb = random_matrix(c.b, n_in, n_ff, seed + 1);
                const Matrix wc = random_matrix(c.c, n_in, n_ff, seed + 2);
                const Matrix wd = random_matrix(c.a, n_in, n_ff, seed + 3);
                const std::vector<float> x = random_floats(static_cast<size_t>(n_tokens * n_in), seed + 4);
                const std::vector<float> residual = random_floats(static_cast<size_t>(n_tokens * n_out), seed + 5);
                const std::vector<float> bias = random_floats(static_cast<size_t>(n_ff), seed + 6);
                const std::string what = std::string(type_name(c.a)) + "/" + std::string(type_name(c.b)) + "/" +
                                         std::string(type_name(c.c)) +
                                         " n_tokens " + std::to_string(n_tokens) + " threads " +
                                         std::to_string(threads);
                const size_t out_floats = static_cast<size_t>(n_tokens * n_out);
                const size_t ff_floats = static_cast<size_t>(n_tokens * n_ff);

                // residual += W x
                std::vector<float> scratch(out_floats), composed = residual, fused = residual;
                backend.matmul(wa.view, x.data(), n_tokens, nullptr, scratch.data());
                backend.add(composed.data(), scratch.data(), static_cast<int64_t>(out_floats), composed.data());
                std::vector<float> fused_scratch(out_floats);
                backend.matmul_add(wa.view, x.data(), n_tokens, fused_scratch.data(), fused.data());
                expect_same_bits(composed, fused, "matmul_add " + what);

                // silu(W_gate x) * (W_up x); gate and up of one type (as in every mixture) and of two.
                for (const Matrix* up : {&wd, &wc}) {
                    std::vector<float> gate_out(ff_floats), up_out(ff_floats), fused_scratch_ff(ff_floats);
                    std::vector<float> fused_out(ff_floats);
                    backend.matmul(wb.view, x.data(), n_tokens, nullptr, gate_out.data());
                    backend.matmul(up->view, x.data(), n_tokens, nullptr, up_out.data());
                    backend.glu(gate_out.data(), up_out.data(), static_cast<int64_t>(ff_floats), Activation::silu,
                                up_out.data());
                    backend.matmul_glu(wb.view, up->view, x.data(), n_tokens, Activation::silu,
                                       fused_scratch_ff.data(), fused_out.data());
                    expect_same_bits(up_out, fused_out,
                                     "matmul_glu (up " + std::string(type_name(up->view.type)) + ") " + what);
                }

                // q, k (with a bias), v from one input; v of another type.
                const WeightView views[3] = {wa.view, wb.view, wc.view};
                const float* const biases[3] = {nullptr, bias.data(), nullptr};
                std::vector<float> ya(out_floats), yb(ff_floats), yc(ff_floats);
                std::vector<float> fa(out_floats), fb(ff_floats), fc(ff_floats);
                backend.matmul(wa.view, x.data(), n_tokens, nullptr, ya.data());
                backend.matmul(wb.view, x.data(), n_tokens, bias.data(), yb.data());
                backend.matmul(wc.view, x.data(), n_tokens, nullptr, yc.data());
                float* const ys[3] = {fa.data(), fb.data(), fc.data()};
                backend.matmul_shared_input(3, views, biases, x.data(), n_tokens, ys);
                expect_same_bits(ya, fa, "shared q " + what);
                expect_same_bits(yb, fb, "shared k+bias " + what);
                expect_same_bits(yc, fc, "shared v " + what);
                ++checked;
            }
        }
    }
    EXPECT_EQ(checked, 36);
}

TEST(CpuFusedOps, RopeKvAppendEqualsItsParts) {
    const int n_head = 8, n_head_kv = 2, head_dim = 64;
    const int64_t kv_width = n_head_kv * head_dim, n_ctx = 96;
    for (const GgmlType cache_type : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0}) {
        for (const int64_t n_tokens : {int64_t{1}, int64_t{17}, int64_t{40}}) {
            CpuBackend backend(CpuBackendOptions{2, ""});
            const uint64_t seed = 800 + static_cast<uint64_t>(n_tokens);
            const std::vector<float> q = random_floats(static_cast<size_t>(n_tokens * n_head * head_dim), seed);
            const std::vector<float> k = random_floats(static_cast<size_t>(n_tokens * kv_width), seed + 1);
            const std::vector<float> v = random_floats(static_cast<size_t>(n_tokens * kv_width), seed + 2);
            std::vector<int32_t> positions(static_cast<size_t>(n_tokens));
            for (size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<int32_t>(3 + 2 * i);
            const size_t row = row_bytes(cache_type, kv_width);
            const RopeParams rope{RopeMode::neox, head_dim, 10000.0f, 1.0f, nullptr};
            std::vector<std::vector<uint8_t>> caches;
            std::vector<std::vector<float>> qs, ks;
            for (const bool fused : {false, true}) {
                std::vector<uint8_t> cache(row * static_cast<size_t>(n_ctx) * 2, 0);
                const KvView view{cache.data(), cache.data() + row * static_cast<size_t>(n_ctx), cache_type, n_ctx,
                                  kv_width, row, cache_type, row};
                std::vector<float> qf = q, kf = k;
                if (fused) {
                    backend.rope_kv_append(qf.data(), kf.data(), v.data(), positions.data(), n_tokens, n_head,
                                           n_head_kv, head_dim, rope, view);
                } else {
                    backend.rope(qf.data(), positions.data(), n_tokens, n_head, head_dim, rope);
                    backend.rope(kf.data(), positions.data(), n_tokens, n_head_kv, head_dim, rope);
                    // The reference quantizer, as the cache type's table row defines the bytes.
                    for (int64_t t = 0; t < n_tokens; ++t) {
                        const size_t offset = static_cast<size_t>(positions[static_cast<size_t>(t)]) * row;
                        type_info(cache_type).quantize_row(kf.data() + t * kv_width, cache.data() + offset, kv_width);
                        type_info(cache_type).quantize_row(v.data() + t * kv_width, cache.data() + row * static_cast<size_t>(n_ctx) + offset,
                                                           kv_width);
                    }
                }
                caches.push_back(cache);
                qs.push_back(qf);
                ks.push_back(kf);
            }
            const std::string what = std::string(type_name(cache_type)) + " n_tokens " + std::to_string(n_tokens);
            expect_same_bits(qs[0], qs[1], "q " + what);
            expect_same_bits(ks[0], ks[1], "k " + what);
            EXPECT_TRUE(caches[0] == caches[1]) << "cache bytes " << what;
        }
    }
}

// kv_append on every kernel set stores each row as the cache type's reference quantizer does (the ISA's own
// quantizer where one exists, e.g. Q8_0 on AVX2, must give the same bytes), at the given positions, nothing else.
TEST(CpuFusedOps, KvAppendStoresReferenceBytesOnEveryIsa) {
    const int64_t kv_width = 2 * 64, n_ctx = 48, n_tokens = 33;  // 33 tokens: more than one parallel chunk
    const std::vector<float> k = random_floats(static_cast<size_t>(n_tokens * kv_width), 71, 3.0f);
    const std::vector<float> v = random_floats(static_cast<size_t>(n_tokens * kv_width), 72, 3.0f);
    std::vector<int32_t> positions(static_cast<size_t>(n_tokens));
    for (size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<int32_t>((7 * i + 3) % n_ctx);
    int checked = 0;
    for (const cpu::CpuIsa isa : {cpu::CpuIsa::scalar, cpu::CpuIsa::avx2, cpu::CpuIsa::avx512, cpu::CpuIsa::amx}) {
        if (!cpu::cpu_isa_available(isa)) continue;
        CpuBackend backend(CpuBackendOptions{2, std::string(cpu::cpu_isa_name(isa))});
        for (const GgmlType cache_type : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0}) {
            const size_t row = row_bytes(cache_type, kv_width), plane = row * static_cast<size_t>(n_ctx);
            std::vector<uint8_t> got(2 * plane, 0xa5), want(2 * plane, 0xa5);  // untouched rows keep 0xa5
            const KvView view{got.data(), got.data() + plane, cache_type, n_ctx, kv_width, row, cache_type, row};
            backend.kv_append(view, k.data(), v.data(), positions.data(), n_tokens);
            const QuantizeRowFn quantize = type_info(cache_type).quantize_row;
            for (int64_t t = 0; t < n_tokens; ++t) {
                const size_t offset = static_cast<size_t>(positions[static_cast<size_t>(t)]) * row;
                quantize(k.data() + t * kv_width, want.data() + offset, kv_width);
                quantize(v.data() + t * kv_width, want.data() + plane + offset, kv_width);
            }
            EXPECT_TRUE(got == want) << type_name(cache_type) << " cache bytes on " << cpu::cpu_isa_name(isa);
            ++checked;
        }
    }
    EXPECT_GE(checked, 4);  // scalar runs everywhere
}

}  // namespace
}  // namespace spool
