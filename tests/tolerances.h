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

}  // namespace spool::tolerance
