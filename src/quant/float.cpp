// Reference kernels of the float types F32, F16 and BF16: row conversions and dot products.
// Match llama.cpp ggml_fp32_to_fp16_row / ggml_fp32_to_bf16_row_ref and the scalar ggml_vec_dot_f16 / _bf16 / _f32.
#include <cstring>

#include "core/half.h"
#include "quant/reference.h"

namespace spool::quant {
namespace {

// Rows may sit at any byte offset of a mapped file, so 16-bit values are read and written with memcpy.
uint16_t load_u16(const void* row, int64_t i) {
    uint16_t v;
    std::memcpy(&v, static_cast<const unsigned char*>(row) + i * 2, 2);
    return v;
}

void store_u16(void* row, int64_t i, uint16_t v) { std::memcpy(static_cast<unsigned char*>(row) + i * 2, &v, 2); }

float load_f32(const void* row, int64_t i) {
    float v;
    std::memcpy(&v, static_cast<const unsigned char*>(row) + i * 4, 4);
    return v;
}

}  // namespace

void dequantize_row_f32(const void* src, float* dst, int64_t n) {
    if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void quantize_row_f32_ref(const float* src, void* dst, int64_t n) {
    if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

// float -> half rounds to nearest even; beyond 65504 it gives infinity and NaN stays NaN (IEEE, as F16C does).
void dequantize_row_f16(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = half_to_float(load_u16(src, i));
}

void quantize_row_f16_ref(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) store_u16(dst, i, float_to_half(src[i]));
}

// float -> bf16 rounds to nearest even and keeps NaN a quiet NaN; bf16 has float's range, so nothing overflows
// except values within half a bf16 step of FLT_MAX.
void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_float(load_u16(src, i));
}

void quantize_row_bf16_ref(const float* src, void* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) store_u16(dst, i, float_to_bf16(src[i]));
}

// The dot products multiply in float and accumulate in double, as llama.cpp's scalar loops do (ggml_float sumf).
void vec_dot_f32_f32(int64_t n, float* out, const void* w, const void* a) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(load_f32(w, i) * load_f32(a, i));
    *out = static_cast<float>(sum);
}

void vec_dot_f16_f16(int64_t n, float* out, const void* w, const void* a) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        sum += static_cast<double>(half_to_float(load_u16(w, i)) * half_to_float(load_u16(a, i)));
    }
    *out = static_cast<float>(sum);
}

void vec_dot_bf16_bf16(int64_t n, float* out, const void* w, const void* a) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        sum += static_cast<double>(bf16_to_float(load_u16(w, i)) * bf16_to_float(load_u16(a, i)));
    }
    *out = static_cast<float>(sum);
}

}  // namespace spool::quant
