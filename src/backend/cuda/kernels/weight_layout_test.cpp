// WeightLayout::grouped (launch.h groups_weight_rows, launch_group_weight_rows): which weights the CUDA backend
// regroups, the device regrouping against the layout's definition, and the calls it refuses. The readers of grouped
// Q4_0 and Q6_K (matvec, dequantize, embed, matmul_tc) are covered by their own tests through
// gpu_test::weight_formats().
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "backend/cuda/kernels/launch.h"
#include "backend/cuda/kernels/weight_test_support.h"
#include "spool/errors.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;
using gpu_test::QuantMatrix;

TEST(CudaWeightLayout, GroupsOnlyQ4_0AndQ6_KRowsOfWholeRuns) {
    EXPECT_TRUE(groups_weight_rows(GgmlType::Q4_0, 256));
    EXPECT_TRUE(groups_weight_rows(GgmlType::Q4_0, 11008));
    EXPECT_FALSE(groups_weight_rows(GgmlType::Q4_0, 96));
    EXPECT_FALSE(groups_weight_rows(GgmlType::Q4_0, 2848));
    EXPECT_FALSE(groups_weight_rows(GgmlType::Q4_0, 0));
    EXPECT_TRUE(groups_weight_rows(GgmlType::Q6_K, 2048));
    EXPECT_TRUE(groups_weight_rows(GgmlType::Q6_K, 4096));
    EXPECT_FALSE(groups_weight_rows(GgmlType::Q6_K, 256));
    EXPECT_FALSE(groups_weight_rows(GgmlType::Q6_K, 5632));   // TinyLlama ffn_down: 22 blocks
    EXPECT_FALSE(groups_weight_rows(GgmlType::Q6_K, 11008));  // Llama-2-7B ffn_down: 43 blocks
    EXPECT_FALSE(groups_weight_rows(GgmlType::Q6_K, 0));
    for (GgmlType type : gpu_test::weight_types()) {
        if (type != GgmlType::Q4_0 && type != GgmlType::Q6_K) {
            EXPECT_FALSE(groups_weight_rows(type, 4096)) << type_name(type);
        }
    }
}

// grouped_run_elements is the run the rule is made of (and its error messages name): rows of whole runs are grouped,
// rows of half a run or a run and a half are not, and the types that are never grouped have no run.
TEST(CudaWeightLayout, GroupedRowsAreWholeRunsOfGroupedRunElements) {
    EXPECT_EQ(grouped_run_elements(GgmlType::Q4_0), 256);
    EXPECT_EQ(grouped_run_elements(GgmlType::Q6_K), 2048);
    for (GgmlType type : gpu_test::weight_types()) {
        const int64_t run = grouped_run_elements(type);
        if (type != GgmlType::Q4_0 && type != GgmlType::Q6_K) {
            EXPECT_EQ(run, 0) << type_name(type);
            continue;
        }
        EXPECT_TRUE(groups_weight_rows(type, run)) << type_name(type);
        EXPECT_TRUE(groups_weight_rows(type, 3 * run)) << type_name(type);
        EXPECT_FALSE(groups_weight_rows(type, run / 2)) << type_name(type);
        EXPECT_FALSE(groups_weight_rows(type, run + run / 2)) << type_name(type);
    }
}

// The refusal comes before any device work, so it needs no GPU; its message states the rule with the run sizes.
TEST(CudaWeightLayout, RefusalNamesTheRuleAndItsRunSizes) {
    try {
        launch_group_weight_rows(nullptr, 272, GgmlType::Q8_0, 256, nullptr);
        FAIL() << "a Q8_0 regrouping was not refused";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("only Q4_0 rows of a multiple of 256 elements and Q6_K rows of a "
                                             "multiple of 2048 elements are regrouped; got Q8_0 with n_cols 256"),
                  std::string::npos)
            << e.what();
    }
}

TEST(CudaWeightLayout, DeviceRegroupingEqualsTheLayoutDefinition) {
    SPOOL_REQUIRE_GPU();
    uint64_t seed = 4400;
    struct Case {
        GgmlType type;
        gpu_test::Shape shape;
    };
    const Case cases[] = {{GgmlType::Q4_0, {1, 256}},   {GgmlType::Q4_0, {37, 768}},  {GgmlType::Q4_0, {131, 11008}},
                          {GgmlType::Q6_K, {1, 2048}},  {GgmlType::Q6_K, {37, 6144}}, {GgmlType::Q6_K, {131, 4096}}};
    for (const Case& c : cases) {
        const QuantMatrix m = gpu_test::make_quant_matrix(c.type, c.shape.n_rows, c.shape.n_cols, ++seed);
        const std::vector<uint8_t> want = gpu_test::grouped_bytes(c.type, m.bytes, m.n_rows, m.n_cols, m.row_bytes);
        ASSERT_NE(want, m.bytes);  // the layouts differ, so an identity kernel fails
        DeviceVector<uint8_t> dev(m.bytes);
        launch_group_weight_rows(dev.data(), m.bytes.size(), c.type, m.n_cols, nullptr);
        SPOOL_CUDA_CHECK(cudaDeviceSynchronize());
        const std::vector<uint8_t> got = dev.download();
        size_t first = 0;
        while (first < got.size() && got[first] == want[first]) ++first;
        EXPECT_EQ(first, got.size()) << gpu_test::shape_name(m.type, m.n_rows, m.n_cols) << ": first wrong byte "
                                     << first << " (row " << first / m.row_bytes << ")";
    }
}

TEST(CudaWeightLayout, RefusesOtherTypesAndPartialRows) {
    SPOOL_REQUIRE_GPU();
    DeviceVector<uint8_t> dev(4 * 144);
    EXPECT_THROW(launch_group_weight_rows(dev.data(), 2 * 272, GgmlType::Q8_0, 256, nullptr), UsageError);
    EXPECT_THROW(launch_group_weight_rows(dev.data(), 3 * 54, GgmlType::Q4_0, 96, nullptr), UsageError);
    EXPECT_THROW(launch_group_weight_rows(dev.data(), 144 + 16, GgmlType::Q4_0, 256, nullptr), UsageError);
    EXPECT_THROW(launch_group_weight_rows(dev.data() + 2, 144, GgmlType::Q4_0, 256, nullptr), UsageError);
    EXPECT_NO_THROW(launch_group_weight_rows(dev.data(), 4 * 144, GgmlType::Q4_0, 256, nullptr));
    DeviceVector<uint8_t> q6(2 * 1680);
    EXPECT_THROW(launch_group_weight_rows(q6.data(), 210, GgmlType::Q6_K, 256, nullptr), UsageError);
    EXPECT_THROW(launch_group_weight_rows(q6.data(), 1680 + 210, GgmlType::Q6_K, 2048, nullptr), UsageError);
    EXPECT_THROW(launch_group_weight_rows(q6.data() + 8, 1680, GgmlType::Q6_K, 2048, nullptr), UsageError);
    EXPECT_NO_THROW(launch_group_weight_rows(q6.data(), 2 * 1680, GgmlType::Q6_K, 2048, nullptr));
    SPOOL_CUDA_CHECK(cudaDeviceSynchronize());
}

// A grouped view of another type, or of rows that are not whole runs, never comes from the backend: the readers
// refuse it rather than read it as Q4_0.
TEST(CudaWeightLayout, ReadersRefuseGroupedViewsOfOtherFormats) {
    SPOOL_REQUIRE_GPU();
    const DeviceVector<float> x(std::vector<float>(2048, 1.0f));
    DeviceVector<float> y(64);
    WeightView q8 = gpu_test::unbacked_view(GgmlType::Q8_0, 4, 256, 272);
    q8.layout = WeightLayout::grouped;
    EXPECT_THROW(launch_matvec(q8, x.data(), 1, nullptr, y.data(), nullptr), UsageError);
    WeightView narrow = gpu_test::unbacked_view(GgmlType::Q4_0, 4, 96, 54);
    narrow.layout = WeightLayout::grouped;
    EXPECT_THROW(launch_matvec(narrow, x.data(), 1, nullptr, y.data(), nullptr), UsageError);
    EXPECT_THROW(launch_dequantize_rows_f16(narrow, 0, 4, nullptr, nullptr), UsageError);
    WeightView q6_narrow = gpu_test::unbacked_view(GgmlType::Q6_K, 4, 256, 210);
    q6_narrow.layout = WeightLayout::grouped;
    EXPECT_THROW(launch_matvec(q6_narrow, x.data(), 1, nullptr, y.data(), nullptr), UsageError);
    WeightView q6_stride = gpu_test::unbacked_view(GgmlType::Q6_K, 4, 2048, 1680 + 2);  // rows not 16-byte aligned
    q6_stride.layout = WeightLayout::grouped;
    EXPECT_THROW(launch_matvec(q6_stride, x.data(), 1, nullptr, y.data(), nullptr), UsageError);
}

}  // namespace
}  // namespace spool::cuda
