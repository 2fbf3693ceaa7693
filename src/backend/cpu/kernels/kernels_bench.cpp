// Microbenchmarks of the CPU matmul kernels (Google Benchmark, one thread): GB/s of weight bytes per CPU second for
// y = W x per weight type and ISA: 32 x 4096 (hot in L2), 4096 x 4096 (L3 or DRAM), and 1 GiB of 4096 x 4096 copies
// (DRAM); plus a plain AVX2 read of 1 GiB, the memory roofline the kernels should reach; and the multi-token
// (prefill) kernels in GMAC/s. Not a test: run by hand.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/kernels/dispatch.h"

namespace spool::cpu {
namespace {

constexpr int64_t kCols = 4096;
constexpr int64_t kRows = 4096;
constexpr int64_t kHotRows = 32;                  // 32 rows of 4096: <= 512 KiB even for F32, so it stays in L2
constexpr size_t kStreamBytes = size_t{1} << 30;  // copies of W summing to 1 GiB: beyond any L3 (300 MiB on some Xeons)

std::vector<float> random_row(int64_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = dist(rng);
    return v;
}

// rows x kCols weights of type t: 16 distinct reference-quantized rows repeated (speed does not depend on the
// values, and quantizing 16M values with the K-quant references would take seconds).
std::vector<uint8_t> make_weights(GgmlType t, int64_t rows, size_t* row_stride) {
    const size_t rb = row_bytes(t, kCols);
    std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
    std::vector<uint8_t> distinct(rb * 16);
    for (int r = 0; r < 16; ++r) {
        const std::vector<float> x = random_row(kCols, 1000 + r);
        type_info(t).quantize_row(x.data(), distinct.data() + rb * r, kCols);
    }
    for (int64_t r = 0; r < rows; ++r) std::memcpy(w.data() + rb * r, distinct.data() + rb * (r % 16), rb);
    *row_stride = rb;
    return w;
}

enum class Residency { hot, matrix, stream };

// How a matrix-vector product is run: vec_dot_rows, vec_dot per row, or the multi-token kernels' one-token gemv.
enum class MatvecPath { rows, vec_dot, gemv };

// One matrix-vector product per iteration: every row dotted with x quantized beforehand (quantize_x measures the
// quantization on its own: O(n), a small fraction of a 4096-row product).
void bm_matvec(benchmark::State& state, GgmlType t, CpuIsa isa, Residency where, MatvecPath path) {
    const MatmulKernels* k = cpu_matmul_kernels(t, isa);
    const VecDotRowsFn gemv = cpu_gemm_kernels(t, isa)->gemv;
    const int64_t rows = where == Residency::hot ? kHotRows : kRows;
    size_t stride = 0;
    std::vector<uint8_t> w = make_weights(t, rows, &stride);
    const size_t matrix_bytes = w.size();
    size_t copies = 1;
    if (where == Residency::stream) {
        copies = (kStreamBytes + matrix_bytes - 1) / matrix_bytes;
        std::vector<uint8_t> all(matrix_bytes * copies);
        for (size_t c = 0; c < copies; ++c) std::memcpy(all.data() + c * matrix_bytes, w.data(), matrix_bytes);
        w = std::move(all);
    }
    const std::vector<float> x = random_row(kCols, 7);
    std::vector<uint8_t> act(row_bytes(k->act_type, kCols));
    std::vector<float> y(static_cast<size_t>(rows));
    k->quantize_act(x.data(), act.data(), kCols);
    size_t copy = 0;
    for (auto _ : state) {
        const uint8_t* m = w.data() + copy * matrix_bytes;
        if (path == MatvecPath::rows) {
            k->vec_dot_rows(kCols, m, stride, rows, act.data(), y.data());
        } else if (path == MatvecPath::gemv) {
            gemv(kCols, m, stride, rows, act.data(), y.data());
        } else {
            for (int64_t r = 0; r < rows; ++r) k->vec_dot(kCols, &y[r], m + stride * r, act.data());
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
        copy = (copy + 1) % copies;
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(matrix_bytes));
}

// Plain AVX2 read of a 1 GiB buffer (8 loads in flight, OR-ed together): the memory read roofline of one core.
__attribute__((target("avx2"))) uint64_t read_all_avx2(const uint8_t* p, size_t bytes) {
    __m256i acc[8];
    for (auto& a : acc) a = _mm256_setzero_si256();
    for (size_t i = 0; i + 256 <= bytes; i += 256) {
        for (int k = 0; k < 8; ++k) {
            acc[k] = _mm256_or_si256(acc[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32 * k)));
        }
    }
    for (int k = 1; k < 8; ++k) acc[0] = _mm256_or_si256(acc[0], acc[k]);
    return static_cast<uint64_t>(_mm256_extract_epi64(acc[0], 0));
}

void bm_memory_read(benchmark::State& state) {
    constexpr size_t kBytes = size_t{1} << 30;
    std::vector<uint8_t> buf(kBytes, 1);  // every page touched before timing
    for (auto _ : state) {
        benchmark::DoNotOptimize(read_all_avx2(buf.data(), kBytes));
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kBytes));
}

void bm_quantize_x(benchmark::State& state, GgmlType act_type, CpuIsa isa) {
    const QuantizeRowFn quantize = cpu_quantize_row(act_type, isa);
    const std::vector<float> x = random_row(kCols, 7);
    std::vector<uint8_t> act(row_bytes(act_type, kCols));
    for (auto _ : state) {
        quantize(x.data(), act.data(), kCols);
        benchmark::DoNotOptimize(act.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kCols * 4);
}

// A prefill's matmul on one thread: kGemmRows x n_cols weights (n_cols 2048 or 5632, TinyLlama's n_embd and
// n_ff) times n_tokens activation rows, by the tiled multi-token kernel (cpu_gemm_kernels) or by one vec_dot_rows
// pass per token (the path before it). Reports multiply-accumulates per CPU second (GMAC/s) and weight bytes per
// second; the weights fit in L3 (the kernel is compute bound: it reads them once for all tokens).
constexpr int64_t kGemmRows = 1024;

void bm_gemm(benchmark::State& state, GgmlType t, CpuIsa isa, int64_t n_cols, int64_t n_tokens, bool tiled) {
    const MatmulKernels* k = cpu_matmul_kernels(t, isa);
    const GemmKernels* g = cpu_gemm_kernels(t, isa);
    const size_t rb = row_bytes(t, n_cols);
    std::vector<uint8_t> w(rb * kGemmRows);
    for (int64_t r = 0; r < kGemmRows; ++r) {
        const std::vector<float> x = random_row(n_cols, 1000 + static_cast<uint64_t>(r % 16));
        if (r < 16) {
            type_info(t).quantize_row(x.data(), w.data() + rb * static_cast<size_t>(r), n_cols);
        } else {
            std::memcpy(w.data() + rb * static_cast<size_t>(r), w.data() + rb * static_cast<size_t>(r % 16), rb);
        }
    }
    const size_t act_bytes = row_bytes(k->act_type, n_cols);
    std::vector<uint8_t> act(act_bytes * static_cast<size_t>(n_tokens));
    for (int64_t i = 0; i < n_tokens; ++i) {
        const std::vector<float> x = random_row(n_cols, 7 + static_cast<uint64_t>(i));
        k->quantize_act(x.data(), act.data() + act_bytes * static_cast<size_t>(i), n_cols);
    }
    std::vector<float> y(static_cast<size_t>(kGemmRows * n_tokens));
    std::vector<uint8_t> scratch(g->scratch_bytes(n_cols, n_tokens));
    for (auto _ : state) {
        if (tiled) {
            g->gemm(n_cols, w.data(), rb, kGemmRows, act.data(), act_bytes, n_tokens, y.data(), kGemmRows,
                    scratch.data());
        } else {
            for (int64_t i = 0; i < n_tokens; ++i) {
                k->vec_dot_rows(n_cols, w.data(), rb, kGemmRows, act.data() + act_bytes * static_cast<size_t>(i),
                                y.data() + kGemmRows * i);
            }
        }
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    const double macs = static_cast<double>(kGemmRows) * static_cast<double>(n_cols) * static_cast<double>(n_tokens);
    state.counters["GMAC/s"] = benchmark::Counter(macs * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(w.size()));
}

constexpr GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q4_1,
                               GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q2_K, GgmlType::Q3_K,
                               GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

void register_all() {
    // Rates are per CPU second (the default): on a shared machine wall time counts other processes' slices.
    if (cpu_isa_available(CpuIsa::avx2)) benchmark::RegisterBenchmark("memory_read_1GiB/avx2", bm_memory_read);
    for (CpuIsa isa : {CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512}) {
        if (!cpu_isa_available(isa)) continue;
        for (GgmlType a : {GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K, GgmlType::F16, GgmlType::BF16}) {
            const std::string name = "quantize_x/" + std::string(type_name(a)) + "/" + std::string(cpu_isa_name(isa));
            benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { bm_quantize_x(s, a, isa); });
        }
    }
    for (CpuIsa isa : {CpuIsa::avx2, CpuIsa::avx512, CpuIsa::amx}) {
        if (!cpu_isa_available(isa)) continue;
        for (GgmlType t : kTypes) {
            if (!cpu_gemm_kernels(t, isa)->tiled) continue;
            for (int64_t n_cols : {2048, 5632}) {
                for (int64_t n_tokens : {2, 4, 8, 16, 32, 64, 128}) {
                    for (bool tiled : {true, false}) {
                        if (!tiled && n_tokens != 128 && n_tokens != 2) continue;
                        const std::string name = "gemm/" + std::to_string(n_cols) + "cols/" + std::to_string(n_tokens) +
                                                 "tok/" + std::string(type_name(t)) + "/" +
                                                 std::string(cpu_isa_name(isa)) + (tiled ? "/tiled" : "/rows");
                        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) {
                            bm_gemm(s, t, isa, n_cols, n_tokens, tiled);
                        });
                    }
                }
            }
        }
    }
    const std::pair<Residency, const char*> places[] = {
        {Residency::hot, "hot32rows"}, {Residency::matrix, "4096x4096"}, {Residency::stream, "stream1GiB"}};
    for (const auto& place : places) {
        const Residency where = place.first;
        const char* where_name = place.second;
        for (CpuIsa isa : {CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512}) {
            if (!cpu_isa_available(isa)) continue;
            for (GgmlType t : kTypes) {
                for (MatvecPath path : {MatvecPath::rows, MatvecPath::vec_dot, MatvecPath::gemv}) {
                    if (path == MatvecPath::vec_dot && where == Residency::stream) continue;
                    if (path == MatvecPath::gemv && !cpu_gemm_kernels(t, isa)->tiled) continue;
                    const char* path_name = path == MatvecPath::rows ? "/rows" : path == MatvecPath::gemv ? "/gemv"
                                                                                                          : "/vec_dot";
                    const std::string name = std::string("matvec/") + where_name + "/" + std::string(type_name(t)) +
                                             "/" + std::string(cpu_isa_name(isa)) + path_name;
                    benchmark::RegisterBenchmark(name.c_str(),
                                                 [=](benchmark::State& s) { bm_matvec(s, t, isa, where, path); });
                }
            }
        }
    }
}

}  // namespace
}  // namespace spool::cpu

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    spool::cpu::register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
