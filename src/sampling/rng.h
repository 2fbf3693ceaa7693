// The sampling RNG, owned by a session: mt19937_64 (fully specified by the C++ standard) plus our own
// uniform draw, so one seed gives the same numbers, and the same text, with every compiler and library.
#pragma once

#include <cstdint>
#include <random>

namespace spool::sampling {

class Rng {
public:
    explicit Rng(uint64_t seed) : engine_(seed) {}
    void reseed(uint64_t seed) { engine_.seed(seed); }
    // Uniform in [0, 1) with 53 random bits (std::uniform_real_distribution differs between libraries).
    double uniform() { return static_cast<double>(engine_() >> 11) * 0x1p-53; }

private:
    std::mt19937_64 engine_;
};

}  // namespace spool::sampling
