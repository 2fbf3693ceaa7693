// launch_embed against the reference dequantization (quant/) of the gathered rows: bit-exact, for every weight type,
// with repeated and out-of-order token ids.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/weight_test_support.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;
using gpu_test::QuantMatrix;

TEST(CudaEmbed, EveryTypeGathersTheReferenceRowsBitForBit) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 500;
    for (const gpu_test::WeightFormat& format : gpu_test::weight_formats()) {
        const GgmlType type = format.type;
        SCOPED_TRACE(gpu_test::format_name(format));
        for (const gpu_test::Shape& shape : gpu_test::test_shapes(format)) {
            const QuantMatrix m = gpu_test::make_quant_matrix(format, shape.n_rows, shape.n_cols, ++seed);
            const DeviceVector<uint8_t> w_dev(m.bytes);
            for (int64_t n_tokens : {1, 5, 77}) {
                std::mt19937 rng(static_cast<uint32_t>(++seed));
                std::vector<int32_t> ids(static_cast<size_t>(n_tokens));
                for (int32_t& id : ids) id = static_cast<int32_t>(rng() % static_cast<uint32_t>(m.n_rows));
                ids.back() = static_cast<int32_t>(m.n_rows - 1);  // the last row, read to its last byte
                const DeviceVector<int32_t> ids_dev(ids);
                DeviceVector<float> out(static_cast<size_t>(n_tokens * m.n_cols));
                gpu_test::poison(out);
                launch_embed(m.view(w_dev.data()), ids_dev.data(), n_tokens, out.data(), nullptr);
                const std::vector<float> got = out.download();
                size_t mismatches = 0, first = 0;
                for (size_t i = 0; i < got.size(); ++i) {
                    const int64_t t = static_cast<int64_t>(i) / m.n_cols, c = static_cast<int64_t>(i) % m.n_cols;
                    const float want = m.dequantized[static_cast<size_t>(ids[static_cast<size_t>(t)] * m.n_cols + c)];
                    if (std::memcmp(&want, &got[i], sizeof(float)) != 0 && mismatches++ == 0) first = i;
                }
                const int64_t t = static_cast<int64_t>(first) / m.n_cols, c = static_cast<int64_t>(first) % m.n_cols;
                EXPECT_EQ(mismatches, 0u)
                    << gpu_test::shape_name(type, m.n_rows, m.n_cols) << " n_tokens " << n_tokens << ": token " << t
                    << " (row " << ids[static_cast<size_t>(t)] << ") column " << c << ": expected "
                    << m.dequantized[static_cast<size_t>(ids[static_cast<size_t>(t)] * m.n_cols + c)] << ", got "
                    << got[first];
            }
        }
    }
}

}  // namespace
}  // namespace spool::cuda
