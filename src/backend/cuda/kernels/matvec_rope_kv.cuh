// The rope + KV store epilogue of the one-token matvecs (launch.h MatvecRopeKv): a thread that holds the sums of rows
// (row, row + 1), row even, of a q, k or v projection finishes them as launch_rope_kv_append would: the same float64
// angle and rotation (ops_rope.cuh) and the same cache rounding (attention_kv_store.cuh), so bit for bit.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/cuda/kernels/attention_kv_store.cuh"
#include "backend/cuda/kernels/ops_rope.cuh"
#include "quant/type_ids.h"

namespace spool::cuda::wq {

inline constexpr int kRopeKvMatrices = 3;  // a launch's matrices: the first and its MatvecArgs::more segments
inline constexpr int kRoleNone = 0, kRoleQ = 1, kRoleK = 2, kRoleV = 3;  // launch.h MatvecRole

// The epilogue as the kernels take it; role[i] is a MatvecRole per matrix of the launch (0: the first, i: more[i - 1]).
struct RopeKvArgs {
    const int32_t* positions = nullptr;
    const float* freq_factors = nullptr;
    float freq_base = 0.0f, freq_scale = 0.0f;
    int n_dims = 0, head_dim = 0;
    uint8_t* k_cache = nullptr;
    uint8_t* v_cache = nullptr;
    int64_t row_bytes = 0;
    bool f16 = false;
    int role[kRopeKvMatrices] = {kRoleNone, kRoleNone, kRoleNone};
};

// The angle of the pair at `row`, computed before the kernel waits for x's producer so that its float64 math overlaps
// the weight loads: it needs only the weights and the step's position, which is uploaded ahead of the step's first
// kernel (ops_common.cuh, the early-read exception). Pairs that are not rotated get (1, 0).
__device__ __forceinline__ bool rope_kv_rotates(const RopeKvArgs& rk, int role, int64_t row) {
    return (role == kRoleQ || role == kRoleK) && static_cast<int>(row % rk.head_dim) < rk.n_dims;
}
// What the epilogue needs of the step: the pair's angle and the position (the cache row of k and v).
struct RopeKvState {
    double2 cos_sin;
    int32_t position;
};
__device__ __forceinline__ RopeKvState rope_kv_state(const RopeKvArgs& rk, int role, int64_t row) {
    RopeKvState state{make_double2(1.0, 0.0), __ldg(rk.positions)};
    if (rope_kv_rotates(rk, role, row)) {
        const int pair = static_cast<int>(row % rk.head_dim) / 2;
        state.cos_sin = rope::pair_cos_sin_at(rope::pair_base_power(pair, rk.n_dims, rk.freq_base), pair,
                                              state.position, rk.freq_scale, rk.freq_factors);
    }
    return state;
}

// Writes rows (row, row + 1) of y with the sums x0, x1 (bias included): rotated for q and k, and for k and v also
// stored in the cache row of the token's position.
// `state` was made before the wait, so no load of the position trails the sums here.
__device__ __forceinline__ void rope_kv_store(const RopeKvArgs& rk, int role, float* y, int64_t row, float x0, float x1,
                                              const RopeKvState& state) {
    if (rope_kv_rotates(rk, role, row)) rope::rotate_pair(x0, x1, state.cos_sin);
    y[row] = x0;
    y[row + 1] = x1;
    if (role == kRoleK || role == kRoleV) {
        uint8_t* cache_row =
            (role == kRoleK ? rk.k_cache : rk.v_cache) + static_cast<int64_t>(state.position) * rk.row_bytes;
        if (rk.f16) {
            kv::store_element<spool::GgmlType::F16>(cache_row, row, x0);
            kv::store_element<spool::GgmlType::F16>(cache_row, row + 1, x1);
        } else {
            kv::store_element<spool::GgmlType::F32>(cache_row, row, x0);
            kv::store_element<spool::GgmlType::F32>(cache_row, row + 1, x1);
        }
    }
}

}  // namespace spool::cuda::wq
