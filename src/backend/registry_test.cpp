// The backend registry and Buffer ownership: names, clear errors for unknown or unbuilt backends, RAII moves.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backend/registry.h"
#include "quant/types.h"
#include "spool/errors.h"

namespace spool {
namespace {

TEST(BackendRegistry, MakesEveryAvailableBackend) {
    for (const std::string& name : available_backends()) {
        const auto backend = make_backend(name);
        EXPECT_EQ(backend->name(), name);
        EXPECT_EQ(backend->uses_host_memory(), name != "cuda") << name;  // the CPU backends compute in host memory
        EXPECT_GT(backend->memory().total_bytes, 0u);
        EXPECT_TRUE(backend->supports(Op::matmul, GgmlType::Q4_K));
        EXPECT_TRUE(backend->supports(Op::attention, GgmlType::Q8_0));
        EXPECT_TRUE(backend->supports(Op::attention, GgmlType::Q4_0)) << name;
        EXPECT_TRUE(backend->supports(Op::kv_append, GgmlType::Q4_0)) << name;
        EXPECT_FALSE(backend->supports(Op::attention, GgmlType::Q4_1));
        EXPECT_FALSE(backend->supports(Op::matmul, GgmlType::IQ2_XXS));
    }
}

TEST(BackendRegistry, UnknownOrUnbuiltBackendsSayWhatExists) {
    try {
        make_backend("tpu");
        ADD_FAILURE() << "no error";
    } catch (const UnsupportedError& e) {
        EXPECT_NE(std::string(e.what()).find("available backends: cpu, ref"), std::string::npos) << e.what();
    }
    // cuda: constructed where built and a GPU exists, otherwise a clear UnsupportedError.
    const auto names = available_backends();
    if (std::find(names.begin(), names.end(), "cuda") == names.end()) {
        EXPECT_THROW(make_backend("cuda"), UnsupportedError);
    } else {
        EXPECT_EQ(make_backend("cuda")->name(), "cuda");
    }
    BackendOptions bad_isa;
    bad_isa.cpu_isa = "sse9";
    EXPECT_THROW(make_backend("cpu", bad_isa), UsageError);
    BackendOptions scalar;
    scalar.cpu_isa = "scalar";
    EXPECT_NO_THROW(make_backend("cpu", scalar));
}

TEST(BackendBuffer, MovesOwnershipAndFreesOnce) {
    const auto backend = make_backend("cpu");
    Buffer a = backend->allocate(1000);
    ASSERT_TRUE(a);
    EXPECT_EQ(a.bytes(), 1000u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 64, 0u);
    void* data = a.data();
    Buffer b = std::move(a);
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is part of the contract
    EXPECT_EQ(b.data(), data);
    std::vector<float> host = {1, 2, 3};
    backend->upload(b.data(), host.data(), 12);
    std::vector<float> back(3);
    backend->download(back.data(), b.data(), 12);
    EXPECT_EQ(back, host);
    b.reset();
    EXPECT_FALSE(b);
    Buffer pinned = backend->register_host(host.data(), 12);  // non-owning: releasing must not free
    EXPECT_EQ(pinned.data(), host.data());
}

}  // namespace
}  // namespace spool
