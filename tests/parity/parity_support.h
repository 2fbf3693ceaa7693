// Harness for tests/parity: runs one op on a backend under test and on the ref backend with the same seeded
// inputs, moving data through upload/download so device backends run the same bodies.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/ref/backend_ref.h"
#include "backend/registry.h"
#include "quant/types.h"
#include "test_support.h"

namespace spool::testing {

// Normalized mean squared error sum((a - e)^2) / sum(e^2), llama.cpp test-backend-ops' measure.
inline double nmse(std::span<const float> expected, std::span<const float> actual) {
    double err = 0, norm = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
        const double d = static_cast<double>(actual[i]) - expected[i];
        err += d * d;
        norm += static_cast<double>(expected[i]) * expected[i];
    }
    return norm > 0 ? err / norm : err;
}

// A host vector mirrored in one backend's memory.
template <class T>
class DeviceArray {
public:
    DeviceArray(Backend& backend, std::span<const T> host) : backend_(&backend), n_(host.size()) {
        buffer_ = backend.allocate(std::max<size_t>(1, n_ * sizeof(T)));
        if (n_ != 0) backend.upload(buffer_.data(), host.data(), n_ * sizeof(T));
    }
    DeviceArray(Backend& backend, size_t n) : backend_(&backend), n_(n) {
        buffer_ = backend.allocate(std::max<size_t>(1, n_ * sizeof(T)));
        if (n_ != 0) {  // defined contents: NaN-free garbage would hide unwritten outputs, so fill with a marker
            const std::vector<T> marker(n_, T(-12345));
            backend.upload(buffer_.data(), marker.data(), n_ * sizeof(T));
        }
    }
    T* data() const { return buffer_.as<T>(); }
    std::vector<T> download() const {
        std::vector<T> host(n_);
        if (n_ != 0) backend_->download(host.data(), buffer_.data(), n_ * sizeof(T));
        return host;
    }

private:
    Backend* backend_;
    size_t n_;
    Buffer buffer_;
};

// A weight matrix of `type` stored as the backend stores model weights (Backend::upload_weight: the CUDA backend
// regroups Q4_0), and its view in that layout.
class DeviceWeights {
public:
    DeviceWeights(Backend& backend, std::span<const uint8_t> host, GgmlType type, int64_t n_cols, int64_t n_rows)
        : buffer_(backend.allocate(std::max<size_t>(1, host.size()))),
          view_{buffer_.data(), type, n_cols, n_rows, row_bytes(type, n_cols)} {
        view_.layout = backend.upload_weight(buffer_.data(), host.data(), host.size(), type, n_cols);
    }
    const WeightView& view() const { return view_; }

private:
    Buffer buffer_;
    WeightView view_;
};

struct ParityResult {
    double nmse = 0;
    Comparison comparison;
};

// Checks actual against the ref backend's expected output; on failure reports NMSE, max abs/rel error, the
// worst index and both values there.
inline ParityResult expect_parity(const std::string& what, std::span<const float> expected,
                                  std::span<const float> actual, double max_nmse) {
    ParityResult r;
    EXPECT_EQ(expected.size(), actual.size()) << what;
    if (expected.size() != actual.size()) return r;
    r.nmse = nmse(expected, actual);
    r.comparison = compare(expected, actual);
    EXPECT_LE(r.nmse, max_nmse) << what << ": NMSE " << r.nmse << " > " << max_nmse << "; "
                                << r.comparison.report();
    return r;
}

// The worst of several cases of one op, printed as one line of the test log.
struct WorstCase {
    std::string name;
    ParityResult worst;
    std::string where;
    void add(const std::string& what, const ParityResult& r) {
        if (where.empty() || r.nmse > worst.nmse) {
            worst = r;
            where = what;
        }
    }
    void print(double limit) const {
        std::printf("[ parity %-10s ] worst NMSE %.3g (limit %.1g) at %s; max abs %.3g, max rel %.3g, worst index %zu\n",
                    name.c_str(), worst.nmse, limit, where.c_str(), worst.comparison.max_abs, worst.comparison.max_rel,
                    worst.comparison.worst);
    }
};

// The backends compared with ref: every built one except ref itself, and the cpu backend once more with its
// portable kernel set ("cpu_scalar"), which machines without AVX2 run.
inline std::vector<std::string> parity_backends() {
    std::vector<std::string> names;
    for (const std::string& n : available_backends()) {
        if (n != "ref") names.push_back(n);
        if (n == "cpu") names.push_back("cpu_scalar");
    }
    return names;
}

inline std::unique_ptr<Backend> make_parity_backend(const std::string& spec) {
    if (spec == "cpu_scalar") {
        BackendOptions options;
        options.cpu_isa = "scalar";
        return make_backend("cpu", options);
    }
    return make_backend(spec);
}

}  // namespace spool::testing
