// Which x~ (the int8 rounding of an activation, launch.h int8_x_bytes) the last producer kernel made, and whether a
// one-token matvec may read it instead of rounding x itself. Host bookkeeping of the CUDA backend; it launches nothing.
#pragma once

#include <cstdint>

#include "backend/cuda/kernels/launch.h"

namespace spool::cuda {

// A producer (rms_norm, attention's combine, matmul_glu's epilogue) writes its output x and x~ of x beside it. That x~
// is valid only while nothing but matvecs reading x ran since: any other launch may write x, and a matvec may write a
// tensor that overlaps it. The residual add of matmul_add_rms_norm makes the x~ of a DeferredNorm's output before the
// norm has run: only readers that pass the norm to their launch may read it (the first of them also writes the
// output), and before any other launch the backend runs the norm as an rms_norm (finish_norm).
class MadeX {
public:
    // A float range that a launch writes.
    struct Written {
        const float* data = nullptr;
        int64_t n = 0;
    };

    // What a matvec reading x passes to its launch: x's made x~ (or null) and, where x is a DeferredNorm's output,
    // that norm, whose out is set for the first such reader only (the one that writes x).
    struct Read {
        const void* x_int8 = nullptr;
        bool reads_norm = false;
        DeferredNorm deferred;
        const DeferredNorm* norm() const { return reads_norm ? &deferred : nullptr; }
    };

    // A producer wrote x (n floats) and its x~ (int8_x_bytes(n)) at x_int8.
    void remember(const float* x, int64_t n, const void* x_int8) noexcept {
        forget();
        x_ = x;
        n_ = n;
        x_int8_ = x_int8;
    }
    // A residual add wrote, at norm_x, the x~ (deferred_norm_x_bytes(n)) of the output norm.out (n floats) of a norm
    // that has not run yet.
    void remember_deferred(const DeferredNorm& norm, int64_t n, const void* norm_x) noexcept {
        remember(norm.out, n, norm_x);
        deferred_ = true;
        norm_ = norm;
    }
    // After a launch that may have written anything, an upload, or a freed buffer: no made x~ is valid.
    void forget() noexcept { *this = MadeX(); }

    // The made x~ of x for a matvec of n_tokens rows of n_cols columns, or null: x~ is made for one token only. Null
    // for a DeferredNorm's x~ unless reads_norm (the launch also takes the norm, from read()).
    const void* x_int8(const float* x, int64_t n_cols, int64_t n_tokens, bool reads_norm = false) const noexcept {
        const bool made = x_int8_ != nullptr && x_ == x && n_ == n_cols && n_tokens == 1;
        return made && (!deferred_ || reads_norm) ? x_int8_ : nullptr;
    }
    // x_int8(x, n_cols, n_tokens, true) and the DeferredNorm to pass with it, for a matvec that reads x; the first
    // such read takes the norm's output.
    Read read(const float* x, int64_t n_cols, int64_t n_tokens) noexcept {
        Read result;
        result.x_int8 = x_int8(x, n_cols, n_tokens, true);
        if (result.x_int8 == nullptr || !deferred_) return result;
        result.reads_norm = true;
        result.deferred = norm_;
        norm_.out = nullptr;
        return result;
    }

    // Which of the two x~ buffers (the first at first_buffer) a producer may write: not the one the made x~ is in,
    // since that producer may be a matvec reading it.
    int free_buffer(const void* first_buffer) const noexcept {
        return x_int8_ != nullptr && x_int8_ == first_buffer ? 1 : 0;
    }

    // Before a launch that does not pass the DeferredNorm: if no launch has written the norm's output yet, calls
    // run_norm(norm, n), which issues the rms_norm that writes norm.out (n floats) and may forget() as any launch
    // does. The norm's x~ stays made across it: that rms_norm writes exactly the x it is the x~ of.
    template <class RunNorm>
    void finish_norm(RunNorm&& run_norm) {
        if (!deferred_ || norm_.out == nullptr) return;
        const DeferredNorm norm = norm_;
        norm_.out = nullptr;
        const MadeX kept = *this;
        run_norm(norm, n_);
        *this = kept;
    }

    // Calls launch, a matvec that writes the n_written ranges at written and nothing else, and, as any launch does,
    // first finishes a DeferredNorm it does not read (finish_norm) and may forget(). The made x~ from before stays
    // made unless a written range overlaps its x (a matvec never writes its own x); a DeferredNorm's output is then
    // written (by a reader before, or by the norm the launch finished), so no later reader writes it again.
    template <class Launch>
    void keep_across(const Written* written, int n_written, Launch&& launch) {
        const MadeX kept = *this;
        launch();
        if (kept.x_int8_ == nullptr) return;
        for (int i = 0; i < n_written; ++i) {
            if (kept.overlaps(written[i])) return;
        }
        *this = kept;
        norm_.out = nullptr;
    }

private:
    bool overlaps(const Written& written) const noexcept {
        auto address = [](const float* p) { return reinterpret_cast<uintptr_t>(p); };
        return address(written.data) < address(x_ + n_) && address(x_) < address(written.data + written.n);
    }

    const float* x_ = nullptr;  // [n_]: the producer's output
    int64_t n_ = 0;
    const void* x_int8_ = nullptr;  // x~ of x_ (int8_x_bytes or, when deferred_, deferred_norm_x_bytes); null: none
    bool deferred_ = false;         // x_ is the output of norm_, and x_int8_ its x~
    DeferredNorm norm_;             // norm_.out: x_ while no launch has written it, else null
};

}  // namespace spool::cuda
