// StepGraph: record, compare, capture or replay one decode step.
#include "backend/cuda/step_graph.h"

#include <cstring>
#include <string>
#include <utility>

#include "backend/cuda/cuda_check.h"

namespace spool::cuda {

StepGraph::StepGraph(cudaStream_t stream, size_t staging_bytes, bool use_graphs)
    : stream_(stream), use_graphs_(use_graphs), staging_bytes_(staging_bytes) {
    SPOOL_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&staging_), staging_bytes_, cudaHostAllocDefault));
    SPOOL_CUDA_CHECK(cudaEventCreateWithFlags(&step_done_, cudaEventDisableTiming));
    signature_.reserve(8192);
    launches_.reserve(1024);
}

StepGraph::~StepGraph() {
    reset_graph();
    if (timed_start_ != nullptr) cudaEventDestroy(timed_start_);
    if (timed_end_ != nullptr) cudaEventDestroy(timed_end_);
    if (step_done_ != nullptr) cudaEventDestroy(step_done_);
    if (staging_ != nullptr) cudaFreeHost(staging_);
}

void StepGraph::reset_graph() noexcept {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
    if (graph_ != nullptr) cudaGraphDestroy(graph_);
    exec_ = nullptr;
    graph_ = nullptr;
    graph_signature_.clear();
    graph_key_.clear();
    graph_uploads_.clear();
}

void StepGraph::set_timing(bool on) {
    if (on && timed_start_ == nullptr) {
        SPOOL_CUDA_CHECK(cudaEventCreate(&timed_start_));
        SPOOL_CUDA_CHECK(cudaEventCreate(&timed_end_));
    }
    collect_timing();
    timing_ = on;
}

// Adds the last timed step to device_time_ (waiting for it to end).
void StepGraph::collect_timing() {
    if (!timed_pending_) return;
    timed_pending_ = false;
    float ms = 0;
    SPOOL_CUDA_CHECK(cudaEventSynchronize(timed_end_));
    SPOOL_CUDA_CHECK(cudaEventElapsedTime(&ms, timed_start_, timed_end_));
    ++device_time_.steps;
    device_time_.ms += ms;
}

StepGraph::DeviceTime StepGraph::take_device_time() {
    collect_timing();
    return std::exchange(device_time_, DeviceTime{});
}

// The stored graph's launch, between the timing events when timing is on.
void StepGraph::launch_graph() {
    if (timing_) {
        collect_timing();  // one pair of events: the previous step has ended by now unless the caller runs ahead
        SPOOL_CUDA_CHECK(cudaEventRecord(timed_start_, stream_));
    }
    SPOOL_CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
    if (timing_) {
        SPOOL_CUDA_CHECK(cudaEventRecord(timed_end_, stream_));
        timed_pending_ = true;
    }
}

bool StepGraph::begin(const std::vector<uint64_t>& repeat_key) {
    if (active_) throw Error("StepGraph::begin: a decode step is already open (missing end_step)");
    active_ = true;
    staging_used_ = 0;
    repeating_ = exec_ != nullptr && !repeat_key.empty() && repeat_key == graph_key_;
    repeated_uploads_ = 0;
    if (repeating_) return true;
    key_ = repeat_key;
    signature_.clear();
    launches_.clear();
    uploads_.clear();
    return false;
}

// A repeated step that breaks its promise: the stored graph is dropped (the next step records afresh) and the step
// closed, so the error leaves the graph usable.
void StepGraph::fail_repeat(const std::string& what) {
    active_ = false;
    repeating_ = false;
    reset_graph();
    throw Error("StepGraph: a repeated decode step " + what +
                "; its repeat key must name only steps whose launches and uploads are the same");
}

void StepGraph::add(const uint64_t* signature, size_t n_words, Launch launch) {
    if (repeating_) fail_repeat("issued a launch (a repeated step makes only its uploads)");
    signature_.push_back(n_words);
    signature_.insert(signature_.end(), signature, signature + n_words);
    launches_.push_back(std::move(launch));
}

void StepGraph::upload(void* dst, const void* host_src, size_t bytes) {
    const size_t offset = (staging_used_ + 15) & ~size_t{15};
    if (offset + bytes > staging_bytes_) {
        throw ResourceError("a decode step uploads more than its " + std::to_string(staging_bytes_) +
                            " bytes of pinned staging; decode steps upload only token ids and positions",
                            offset + bytes, staging_bytes_);
    }
    // The previous step's graph may still be reading this staging memory.
    if (offset == 0) SPOOL_CUDA_CHECK(cudaEventSynchronize(step_done_));
    const Upload upload{dst, bytes, offset};
    if (repeating_) {
        if (repeated_uploads_ >= graph_uploads_.size() || !(graph_uploads_[repeated_uploads_] == upload)) {
            fail_repeat("made an upload that the step it repeats did not make");
        }
        ++repeated_uploads_;
    }
    std::memcpy(staging_ + offset, host_src, bytes);
    staging_used_ = offset + bytes;
    if (repeating_) return;  // the stored graph's copy node reads this staging offset
    uploads_.push_back(upload);
    const unsigned char* src = staging_ + offset;
    add({0x75706c64 /* "upld" */, reinterpret_cast<uintptr_t>(dst), bytes, offset},
        [dst, src, bytes](cudaStream_t s) {
            SPOOL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
        });
}

void StepGraph::end() {
    if (!active_) throw Error("StepGraph::end without begin");
    if (repeating_ && repeated_uploads_ != graph_uploads_.size()) {
        fail_repeat("made fewer uploads than the step it repeats");
    }
    active_ = false;
    if (repeating_) {
        repeating_ = false;
        launch_graph();
        ++replays_;
        ++repeats_;
    } else if (!use_graphs_) {
        for (const Launch& launch : launches_) launch(stream_);
    } else if (exec_ != nullptr && signature_ == graph_signature_) {
        launch_graph();
        ++replays_;
        graph_key_ = key_;  // the same launches under this step's key (an empty key repeats nothing)
    } else {
        capture_and_launch();
    }
    SPOOL_CUDA_CHECK(cudaEventRecord(step_done_, stream_));
}

void StepGraph::capture_and_launch() {
    cudaGraph_t graph = nullptr;
    SPOOL_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    try {
        for (const Launch& launch : launches_) launch(stream_);
    } catch (...) {
        cudaStreamEndCapture(stream_, &graph);  // leave capture mode before reporting the failed launch
        if (graph != nullptr) cudaGraphDestroy(graph);
        throw;
    }
    SPOOL_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    ++captures_;
    // Same topology, new arguments: update the executable graph in place (cheaper than instantiating).
    bool updated = false;
    if (exec_ != nullptr) {
        cudaGraphExecUpdateResultInfo info{};
        updated = cudaGraphExecUpdate(exec_, graph, &info) == cudaSuccess;
        if (!updated) cudaGetLastError();  // clear the update failure: a fresh instantiation follows
    }
    if (!updated) {
        if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
        exec_ = nullptr;
        SPOOL_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph, 0));
    }
    if (graph_ != nullptr) cudaGraphDestroy(graph_);
    graph_ = graph;
    graph_signature_ = signature_;
    graph_key_ = key_;
    graph_uploads_ = uploads_;
    launch_graph();
}

}  // namespace spool::cuda
