// The dispatch table: names, the SPOOL_CPU_ISA-style override, availability, and one entry per weight type.
#include <cstdio>
#include <string>

#include "backend/cpu/kernels/kernel_test_support.h"
#include "spool/errors.h"

namespace spool::cpu::testing {
namespace {

TEST(CpuDispatch, NamesRoundTrip) {
    for (CpuIsa isa : kAllIsas) {
        EXPECT_EQ(parse_cpu_isa(cpu_isa_name(isa)), isa);
    }
    EXPECT_EQ(parse_cpu_isa("AVX2"), CpuIsa::avx2);
    EXPECT_EQ(parse_cpu_isa("sse"), std::nullopt);
}

TEST(CpuDispatch, ResolvePicksBestOrThrows) {
    EXPECT_TRUE(cpu_isa_available(CpuIsa::scalar));
    EXPECT_TRUE(cpu_isa_available(best_cpu_isa()));
    EXPECT_EQ(resolve_cpu_isa(""), best_cpu_isa());
    EXPECT_EQ(resolve_cpu_isa("auto"), best_cpu_isa());
    EXPECT_EQ(resolve_cpu_isa("scalar"), CpuIsa::scalar);
    EXPECT_THROW(resolve_cpu_isa("neon"), UsageError);
    for (CpuIsa isa : kAllIsas) {
        if (cpu_isa_available(isa)) {
            EXPECT_EQ(resolve_cpu_isa(cpu_isa_name(isa)), isa);
        } else {
            EXPECT_THROW(resolve_cpu_isa(cpu_isa_name(isa)), UnsupportedError) << cpu_isa_name(isa);
        }
    }
    std::printf("best CPU kernel set here: %s\n", std::string(cpu_isa_name(best_cpu_isa())).c_str());
}

TEST(CpuDispatch, EveryWeightTypeHasKernelsOnEveryIsa) {
    for (CpuIsa isa : kAllIsas) {
        for (GgmlType w : kWeightTypes) {
            const MatmulKernels* k = cpu_matmul_kernels(w, isa);
            ASSERT_NE(k, nullptr) << type_name(w) << " on " << cpu_isa_name(isa);
            EXPECT_EQ(k->weight_type, w);
            EXPECT_EQ(k->act_type, type_info(w).vec_dot_type);
            EXPECT_NE(k->quantize_act, nullptr);
            EXPECT_NE(k->vec_dot, nullptr);
            EXPECT_NE(k->vec_dot_rows, nullptr);
            EXPECT_EQ(cpu_quantize_row(k->act_type, isa), k->quantize_act);
        }
        EXPECT_EQ(cpu_matmul_kernels(GgmlType::Q8_K, isa), nullptr);
        EXPECT_EQ(cpu_matmul_kernels(GgmlType::IQ2_XXS, isa), nullptr);
        EXPECT_EQ(cpu_quantize_row(GgmlType::Q4_0, isa), nullptr);
    }
}

}  // namespace
}  // namespace spool::cpu::testing
