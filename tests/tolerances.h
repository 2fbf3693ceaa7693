// Every numeric tolerance the tests use, one named constant each (never loosened in a single test).
// Model-level values are ../shared/reference/README.md section 6 ("Suggested test tolerances").
#pragma once

namespace spool::tolerance {

// Logits against llama.cpp's reference of the same file: max abs (top-20 and full last row), RMS, lse.
struct LogitTolerance {
    double max_abs;
    double rms_last_row;
    double lse;
};
inline constexpr LogitTolerance kLogitsF32{2e-4, 3e-5, 1e-4};
inline constexpr LogitTolerance kLogitsF16{0.15, 0.03, 0.1};
inline constexpr LogitTolerance kLogitsBF16{0.8, 0.2, 0.6};
inline constexpr LogitTolerance kLogitsQ8_0{3.5, 0.7, 2.5};
inline constexpr LogitTolerance kLogitsQuantized{5.5, 1.1, 3.5};  // Q6_K ... Q2_K
// A q4_0 KV cache against an f32 one on the same tiny file: max abs over the last row's logits (session_test
// EveryKvCacheTypeRuns). A Q4_0 level is 1/8 of a block's max |x|, ~16x the q8_0 step, and the random tiny model's
// logits (spread about +-60) amplify it: measured 13.96 on tiny-F32 and 12.94 on tiny-Q4_K_M (cpu backend, the same
// with the scalar, avx2 and avx512 kernels; 12.1 to 15.6 over all eleven tiny files; q8_0: 0.69 on tiny-F32). The
// cpu and ref backends agree with a q4_0 cache to 2.3e-5 on tiny-F32, so the size is the rounding's, not a kernel's.
// A cache read one level low in half of each block measured 26.
inline constexpr double kLogitsQ4_0Cache = 20.0;
// ln PPL (the mean NLL, nats) of `spool perplexity` against llama-perplexity's on the same tiny file and text
// (../shared/reference/tiny/perplexity.json: ppl.txt, -c 128, 13 chunks, 819 scored tokens), and after each chunk
// (scaled by sqrt(13 / chunks so far) in the test). A mean over many tokens, so far below the per-row logit
// tolerances above. Measured, final value (running values at that scale): F32 5e-7 (7.5e-7, cpu); F16 1.1e-4
// (3.1e-4, cpu), 4.0e-4 (1.0e-3, cuda, prefill and decode scoring); the quantized files 1.6e-3 .. 3.1e-2 (up to
// 5.0e-2, cpu, Q6_K), 1.7e-3 .. 1.6e-2 (cuda; activations rounded otherwise than llama.cpp's, README section 6).
// About 2-3x the running values.
// The quantized files' values spread over 0.47 nats, so 0.1 still tells a Q4_K_M result from a Q8_0 one.
inline constexpr double kLnPplF32 = 2e-6;
inline constexpr double kLnPplF16 = 2e-3;
inline constexpr double kLnPplQuantized = 0.1;

// K-quant round trip on N(mean, sigma^2) data, as RMSE / sigma. Estimate: uniform noise step/sqrt(12), with the step
// of the type's sub-block (range of 16 or 32 normals, or max |x| for the symmetric types, over its levels), plus ~15%
// for the spread between rows of one super-block. Measured on 256..256000 values: Q2_K 0.29-0.34, Q3_K 0.15-0.17,
// Q4_K 0.069-0.084, Q5_K 0.035-0.043, Q6_K 0.018-0.021, Q8_K 0.0069-0.0087. Dequantized llama.cpp files obey them too.
inline constexpr double kRmseOverSigmaQ2_K = 0.37;
inline constexpr double kRmseOverSigmaQ3_K = 0.19;
inline constexpr double kRmseOverSigmaQ4_K = 0.095;
inline constexpr double kRmseOverSigmaQ5_K = 0.048;
inline constexpr double kRmseOverSigmaQ6_K = 0.023;
inline constexpr double kRmseOverSigmaQ8_K = 0.0098;
// A row of one repeated value c comes back within this fraction of |c| (fp16 scale rounding, 2^-11, at most twice).
inline constexpr double kKQuantConstantRowRel = 1e-3;
// K-quant vec_dot against the float64 dot of the dequantized rows, relative to sum|a_i| * max|w_i|: the integer sums
// are exact, so only float rounding of a few products per super-block remains (about 20 float ulps at 11 blocks).
inline constexpr double kKQuantDotVsDequantized = 1e-5;
// K-quant vec_dot against the float64 dot of the original rows: this many standard deviations of the sum of n
// independent rounding errors, sqrt(n) * sigma_w * sigma_a * sqrt(rmse_w^2 + rmse_q8k^2) (RMSEs as above).
inline constexpr double kKQuantDotSigmas = 6.0;
// llama-quantize's own tensors against the F16 source: spool's RMSE may exceed llama.cpp's by at most this factor.
inline constexpr double kQuantizerRmseOverLlama = 1.05;

// tests/parity: a backend's op against the ref backend (float64 loops) on the same inputs, as NMSE
// (sum of squared errors / sum of squared reference values, llama.cpp test-backend-ops' measure).
// Float32 arithmetic against float64: rms_norm, glu, add, embed (measured about 1e-14 on the cpu backend).
inline constexpr double kParityNmseFloatOps = 1e-10;
// Rope angles in float32 as llama.cpp computes them, positions up to 1500 (measured 8e-11 on the cpu backend).
inline constexpr double kParityNmseRope = 1e-9;
// Attention over the same stored cache rows (each backend rounds k/v to the cache type the same way).
inline constexpr double kParityNmseAttention = 1e-10;
// The same where a backend also rounds q and the softmax probabilities to fp16 for the products, as llama.cpp does
// with an F16 cache (../shared/reference/README.md section 6), and a Q8_0 cache's rows to fp16 as llama.cpp converts
// them for its tensor-core attention: the CUDA prefill kernel on the tensor cores. Roundings of relative size 2^-11;
// measured 3e-8 .. 7e-8 on an H100 with an F16 cache.
inline constexpr double kParityNmseAttentionHalfProducts = 3e-7;
// The same where a backend rounds q to int8 per 8-element group for the scores (the CUDA split kernel over a Q8_0
// cache with one query head per KV head, as its matvecs round x; llama.cpp rounds q to q8_1 blocks of 32 for a
// quantized K cache). A score error of about 2^-7 * |q| * |k| / sqrt(12) per group: NMSE ~2e-5 on unit normal data
// (measured 2.1e-5 at most over the CUDA attention tests on an H100); llama.cpp test-backend-ops allows 5e-4 for its
// flash attention.
inline constexpr double kParityNmseAttentionInt8Query = 1e-4;
// Matmul: float32 weights and activations; activations rounded to F16 / BF16; to 8-bit Q8_0/Q8_1/Q8_K blocks
// (the last is llama.cpp test-backend-ops' default NMSE limit). Measured on the cpu backend: 4e-14, 5e-8,
// 4e-6 and 3e-5..9e-5.
inline constexpr double kParityNmseMatmulF32 = 1e-10;
inline constexpr double kParityNmseMatmulF16Act = 1e-6;
inline constexpr double kParityNmseMatmulBF16Act = 5e-5;
inline constexpr double kParityNmseMatmulQ8Act = 5e-4;

}  // namespace spool::tolerance
