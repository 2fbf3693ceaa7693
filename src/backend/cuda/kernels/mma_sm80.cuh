// The tensor-core primitives the mma.sync kernels share (attention_tiled_tc.cu, attention_split_mma.cu,
// matmul_tc.cu; the cp.async copies also attention_split_staged.cuh): shared-memory addresses, cp.async copies,
// ldmatrix of four 8 x 8 fp16 matrices, and the m16n8k16 fp16 product with float32 accumulation. They need sm_80, so
// they exist only in device passes for sm_80 and later; the launchers check the built PTX version
// (cudaFuncGetAttributes().ptxVersion >= 80) before they use a kernel built from them, and the split kernel takes
// its staged form only in passes for sm_80 and later.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
namespace spool::cuda::tc {

__device__ __forceinline__ uint32_t shared_address(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// BYTES (4, 8 or 16) from global to shared memory by cp.async, without registers; `valid` false writes zeros and
// reads nothing. 16-byte copies bypass L1 (.cg); smaller ones can only go through it (.ca).
template <int BYTES>
__device__ __forceinline__ void copy_async(uint32_t dst, const void* src, bool valid) {
    static_assert(BYTES == 4 || BYTES == 8 || BYTES == 16, "cp.async copies 4, 8 or 16 bytes");
    if constexpr (BYTES == 16) {
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0)
                     : "memory");
    } else {
        asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(dst), "l"(src), "n"(BYTES),
                     "r"(valid ? BYTES : 0)
                     : "memory");
    }
}
// The copies issued since the last commit form a group; waits complete whole groups, oldest first.
__device__ __forceinline__ void commit_copies() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// All groups but the newest N.
template <int N>
__device__ __forceinline__ void wait_copies_but() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void wait_copies_but_one() { wait_copies_but<1>(); }
__device__ __forceinline__ void wait_all_copies() { wait_copies_but<0>(); }

// Four 8 x 8 fp16 matrices from shared memory: lanes 8i .. 8i + 7 give the row addresses of matrix i (16 bytes each).
__device__ __forceinline__ void load_matrices(uint32_t (&r)[4], uint32_t address) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address)
                 : "memory");
}

// c (16 x 8, float32) += a (16 x 16, fp16, row-major fragment) . b (16 x 8, fp16, column-major fragment).
__device__ __forceinline__ void mma_16x8x16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t half2_bits(__half2 h) {
    uint32_t bits;
    memcpy(&bits, &h, sizeof bits);
    return bits;
}

}  // namespace spool::cuda::tc
#endif
