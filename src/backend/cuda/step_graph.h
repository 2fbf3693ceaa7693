// Records the launches of one decode step and replays them as one CUDA graph when the next step issues the
// same launches with the same arguments (the usual case: a decode step reads its token and position from
// device memory, so every step of a session looks alike). The step then costs one graph launch, not hundreds of
// kernel launches. A step whose launches differ is captured afresh (and the executable graph updated).
//
// Recording a step is host work the GPU waits for (H100, session 22: 35-155 us per step against a 605 us TinyLlama
// step on the GPU). A caller that knows its step repeats the last one exactly names it with a repeat key: when the
// key matches the stored graph's, the step is repeated without recording (only its uploads are made).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace spool::cuda {

class StepGraph {
public:
    using Launch = std::function<void(cudaStream_t)>;

    // staging_bytes: pinned host memory for the uploads one step may make (token ids, positions).
    StepGraph(cudaStream_t stream, size_t staging_bytes, bool use_graphs);
    ~StepGraph();
    StepGraph(const StepGraph&) = delete;
    StepGraph& operator=(const StepGraph&) = delete;

    bool active() const noexcept { return active_; }
    // Opens a step. repeat_key: empty, or words naming a step whose launches are always the same (the caller's
    // promise). When they equal the stored graph's key, returns true: the step repeats that graph, and the caller
    // makes only its uploads (same destinations, sizes and order) before end(); a launch then throws. Otherwise the
    // step is recorded as usual and its graph stored under the key.
    bool begin(const std::vector<uint64_t>& repeat_key = {});
    // While active: a launch and the words that identify it (an op id, its pointers and sizes).
    void add(const uint64_t* signature, size_t n_words, Launch launch);
    void add(std::initializer_list<uint64_t> signature, Launch launch) {
        add(signature.begin(), signature.size(), std::move(launch));
    }
    // While active: copies host bytes into pinned staging now; the device copy is one of the step's launches.
    void upload(void* dst, const void* host_src, size_t bytes);
    // Issues the step on the stream (asynchronously): the stored graph when it matches, else a fresh capture.
    void end();

    // Drops the stored graph: the next step is captured afresh. Called whenever memory of the backend is freed: a
    // replayed graph must never meet a new allocation at a freed one's address (its copy nodes keep the old
    // allocation: on an H100, driver 13.0, cuGraphLaunch crashed in a second Session whose buffers reused them).
    void forget_graph() noexcept { reset_graph(); }

    // Counters for benchmarks and tests: steps replayed from a stored graph, and captures.
    uint64_t replays() const noexcept { return replays_; }
    uint64_t captures() const noexcept { return captures_; }
    uint64_t repeats() const noexcept { return repeats_; }  // the replays that skipped recording

    // Device time of the steps (off by default: two events per step): from the step's launch to its end, by events
    // recorded around it. take_device_time returns the steps ended and their time since the last call, and waits for
    // the last one to finish.
    struct DeviceTime {
        uint64_t steps = 0;
        double ms = 0;
    };
    void set_timing(bool on);
    DeviceTime take_device_time();

private:
    struct Upload {
        const void* dst;
        size_t bytes, offset;
        bool operator==(const Upload& o) const { return dst == o.dst && bytes == o.bytes && offset == o.offset; }
    };

    void capture_and_launch();
    void launch_graph();
    void collect_timing();
    void reset_graph() noexcept;
    void fail_repeat(const std::string& what);

    cudaStream_t stream_;
    bool use_graphs_;
    bool active_ = false;
    bool repeating_ = false;
    size_t repeated_uploads_ = 0;  // uploads made so far in a repeated step
    unsigned char* staging_ = nullptr;  // pinned
    size_t staging_bytes_;
    size_t staging_used_ = 0;
    cudaEvent_t step_done_ = nullptr;  // staging may be rewritten once the previous step has read it
    std::vector<uint64_t> signature_, graph_signature_;
    std::vector<uint64_t> key_, graph_key_;  // the open step's repeat key; the stored graph's
    std::vector<Upload> uploads_, graph_uploads_;
    std::vector<Launch> launches_;
    cudaGraph_t graph_ = nullptr;
    cudaGraphExec_t exec_ = nullptr;
    uint64_t replays_ = 0, captures_ = 0, repeats_ = 0;
    bool timing_ = false, timed_pending_ = false;
    cudaEvent_t timed_start_ = nullptr, timed_end_ = nullptr;  // around the last step launched
    DeviceTime device_time_;
};

}  // namespace spool::cuda
