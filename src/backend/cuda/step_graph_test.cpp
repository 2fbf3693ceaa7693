// StepGraph's repeated steps: a step opened with the stored graph's repeat key runs that graph with only its uploads
// made, any other key (or none) records, and a repeated step that breaks its promise throws and drops the graph.
// Skips where no GPU is present.
#include "backend/cuda/step_graph.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "backend/cuda/cuda_test_support.h"
#include "spool/errors.h"

namespace spool::cuda {
namespace {

using gpu_test::DeviceVector;

class StepGraphRepeat : public ::testing::Test {
protected:
    void SetUp() override {
        SPOOL_REQUIRE_GPU();
        SPOOL_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        graph_ = std::make_unique<StepGraph>(stream_, 256, true);
        in_ = std::make_unique<DeviceVector<int32_t>>(1);
        out_ = std::make_unique<DeviceVector<int32_t>>(1);
    }
    void TearDown() override {
        graph_.reset();
        if (stream_ != nullptr) cudaStreamDestroy(stream_);
    }

    // One step: uploads `value`, then (when recorded) copies it to out. Returns whether the step was repeated.
    bool step(int32_t value, const std::vector<uint64_t>& key) {
        const bool repeated = graph_->begin(key);
        graph_->upload(in_->data(), &value, sizeof value);
        if (!repeated) record_copy();
        graph_->end();
        SPOOL_CUDA_CHECK(cudaStreamSynchronize(stream_));
        return repeated;
    }
    void record_copy() {
        int32_t* dst = out_->data();
        const int32_t* src = in_->data();
        graph_->add({1, reinterpret_cast<uintptr_t>(dst), reinterpret_cast<uintptr_t>(src)},
                    [dst, src](cudaStream_t s) {
                        SPOOL_CUDA_CHECK(cudaMemcpyAsync(dst, src, sizeof(int32_t), cudaMemcpyDeviceToDevice, s));
                    });
    }
    int32_t out() const { return out_->download()[0]; }

    cudaStream_t stream_ = nullptr;
    std::unique_ptr<StepGraph> graph_;
    std::unique_ptr<DeviceVector<int32_t>> in_, out_;
};

const std::vector<uint64_t> kKeyA = {7, 1}, kKeyB = {7, 2};

TEST_F(StepGraphRepeat, SameKeyRepeatsWithNewUploads) {
    EXPECT_FALSE(step(11, kKeyA));  // nothing stored yet: recorded and captured
    EXPECT_EQ(out(), 11);
    for (int32_t v = 12; v < 15; ++v) {
        EXPECT_TRUE(step(v, kKeyA));
        EXPECT_EQ(out(), v) << "a repeated step must run the stored graph on its own upload";
    }
    EXPECT_EQ(graph_->captures(), 1u);
    EXPECT_EQ(graph_->repeats(), 3u);
    EXPECT_EQ(graph_->replays(), 3u);
}

TEST_F(StepGraphRepeat, OtherKeysAndNoKeyRecord) {
    EXPECT_FALSE(step(1, kKeyA));
    EXPECT_FALSE(step(2, kKeyB));  // same launches under another key: replayed by signature, stored under B
    EXPECT_EQ(out(), 2);
    EXPECT_FALSE(step(3, kKeyA));  // the graph is B's now
    EXPECT_FALSE(step(4, {}));
    EXPECT_FALSE(step(5, {}));  // an empty key never repeats
    EXPECT_EQ(out(), 5);
    EXPECT_EQ(graph_->repeats(), 0u);
    EXPECT_EQ(graph_->captures(), 1u);
    EXPECT_FALSE(step(6, kKeyA));
    EXPECT_TRUE(step(7, kKeyA));
    graph_->forget_graph();  // as after a free: the next step records afresh
    EXPECT_FALSE(step(8, kKeyA));
    EXPECT_EQ(out(), 8);
    EXPECT_EQ(graph_->captures(), 2u);
}

TEST_F(StepGraphRepeat, BrokenPromisesThrowAndDropTheGraph) {
    ASSERT_FALSE(step(1, kKeyA));
    // A launch in a repeated step.
    ASSERT_TRUE(graph_->begin(kKeyA));
    int32_t value = 2;
    graph_->upload(in_->data(), &value, sizeof value);
    EXPECT_THROW(record_copy(), Error);
    EXPECT_FALSE(graph_->active());
    EXPECT_FALSE(step(3, kKeyA)) << "the graph was dropped";
    EXPECT_EQ(out(), 3);
    // An upload to another place.
    ASSERT_TRUE(graph_->begin(kKeyA));
    EXPECT_THROW(graph_->upload(out_->data(), &value, sizeof value), Error);
    EXPECT_FALSE(step(4, kKeyA));
    // Fewer uploads than the stored step made.
    ASSERT_TRUE(graph_->begin(kKeyA));
    EXPECT_THROW(graph_->end(), Error);
    EXPECT_FALSE(step(5, kKeyA));
    EXPECT_TRUE(step(6, kKeyA));
    EXPECT_EQ(out(), 6);
}

TEST_F(StepGraphRepeat, TimesStepsOnlyWhenAsked) {
    step(1, kKeyA);
    EXPECT_EQ(graph_->take_device_time().steps, 0u);
    graph_->set_timing(true);
    step(2, kKeyA);
    step(3, kKeyA);
    step(4, kKeyB);
    const StepGraph::DeviceTime t = graph_->take_device_time();
    EXPECT_EQ(t.steps, 3u);
    EXPECT_GT(t.ms, 0.0);
    EXPECT_EQ(graph_->take_device_time().steps, 0u);
    graph_->set_timing(false);
    step(5, kKeyB);
    EXPECT_EQ(graph_->take_device_time().steps, 0u);
}

}  // namespace
}  // namespace spool::cuda
