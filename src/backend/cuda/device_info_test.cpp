// GPU tests skip with a message where no CUDA device is present (CI); on the device machine they run.
#include "backend/cuda/device_info.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace spool::cuda {
namespace {

TEST(CudaDevice, ListingNeverThrowsWithoutAGpu) { EXPECT_NO_THROW(list_devices()); }

TEST(CudaDevice, KernelAddsVectors) {
    const auto devices = list_devices();
    if (devices.empty()) GTEST_SKIP() << "no CUDA device on this machine; GPU tests run on the device machine";
    const auto a = testing::random_floats(1001, 1), b = testing::random_floats(1001, 2);
    const auto out = add_vectors_on_device(0, a, b);
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(out[i], a[i] + b[i]) << "index " << i;
}

}  // namespace
}  // namespace spool::cuda
