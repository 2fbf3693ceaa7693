// -ngl stage plans: llama.cpp's reading (the last N layers offloaded), when a split applies, and bad values.
#include "runtime/layer_split.h"

#include <gtest/gtest.h>

#include <string>

#include "spool/errors.h"

namespace spool::runtime {
namespace {

EngineOptions options(const std::string& backend, int n_gpu_layers, const std::string& cpu_layers_backend = "") {
    EngineOptions o;
    o.backend = backend;
    o.n_gpu_layers = n_gpu_layers;
    o.cpu_layers_backend = cpu_layers_backend;
    return o;
}

void expect_single(const std::vector<StagePlan>& plan, const std::string& backend) {
    ASSERT_EQ(plan.size(), 1u);
    EXPECT_EQ(plan[0].backend, backend);
    EXPECT_EQ(plan[0].layer_begin, 0);
}

TEST(LayerSplit, LastNLayersGoToTheOffloadBackend) {
    for (const int n : {1, 11, 21}) {
        const std::vector<StagePlan> plan = plan_stages(options("cuda", n), 22);
        ASSERT_EQ(plan.size(), 2u) << "-ngl " << n;
        EXPECT_EQ(plan[0].backend, "cpu");
        EXPECT_EQ(plan[0].layer_begin, 0);
        EXPECT_EQ(plan[1].backend, "cuda");
        EXPECT_EQ(plan[1].layer_begin, 22 - n) << "-ngl " << n;
    }
}

TEST(LayerSplit, AllLayersOrNoSplitIsOneStage) {
    expect_single(plan_stages(options("cuda", -1), 22), "cuda");
    expect_single(plan_stages(options("cuda", 22), 22), "cuda");  // the head goes with the last layer
    expect_single(plan_stages(options("cuda", 99), 22), "cuda");
    // -ngl means nothing to a host backend unless a split backend is named.
    expect_single(plan_stages(options("cpu", 5), 22), "cpu");
    expect_single(plan_stages(options("ref", 5), 22), "ref");
}

TEST(LayerSplit, NamedCpuLayersBackendSplitsAnyBackend) {
    const std::vector<StagePlan> plan = plan_stages(options("ref", 3, "cpu"), 4);
    ASSERT_EQ(plan.size(), 2u);
    EXPECT_EQ(plan[0].backend, "cpu");
    EXPECT_EQ(plan[1].backend, "ref");
    EXPECT_EQ(plan[1].layer_begin, 1);
    const std::vector<StagePlan> other = plan_stages(options("cuda", 2, "ref"), 4);
    ASSERT_EQ(other.size(), 2u);
    EXPECT_EQ(other[0].backend, "ref");
    EXPECT_EQ(other[1].layer_begin, 2);
}

TEST(LayerSplit, BadLayerCountsAreUsageErrors) {
    try {
        plan_stages(options("cuda", 0), 22);
        FAIL() << "-ngl 0 with cuda must throw";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("--backend cpu"), std::string::npos) << e.what();
    }
    try {
        plan_stages(options("ref", 0, "cpu"), 4);
        FAIL() << "-ngl 0 with a split backend must throw";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("no layer on the ref backend"), std::string::npos) << e.what();
    }
    for (const std::string backend : {"cuda", "cpu"}) {
        try {
            plan_stages(options(backend, -2), 22);
            FAIL() << "-ngl -2 must throw";
        } catch (const UsageError& e) {
            EXPECT_NE(std::string(e.what()).find("-ngl -2 is not a layer count"), std::string::npos) << e.what();
        }
    }
}

}  // namespace
}  // namespace spool::runtime
