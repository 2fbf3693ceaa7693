// StepGraph: record, compare, capture or replay one decode step.
#include "backend/cuda/step_graph.h"

#include <cstring>
#include <string>

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
    if (step_done_ != nullptr) cudaEventDestroy(step_done_);
    if (staging_ != nullptr) cudaFreeHost(staging_);
}

void StepGraph::reset_graph() noexcept {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
    if (graph_ != nullptr) cudaGraphDestroy(graph_);
    exec_ = nullptr;
    graph_ = nullptr;
    graph_signature_.clear();
}

void StepGraph::begin() {
    if (active_) throw Error("StepGraph::begin: a decode step is already open (missing end_step)");
    active_ = true;
    signature_.clear();
    launches_.clear();
    staging_used_ = 0;
}

void StepGraph::add(const uint64_t* signature, size_t n_words, Launch launch) {
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
    std::memcpy(staging_ + offset, host_src, bytes);
    staging_used_ = offset + bytes;
    const unsigned char* src = staging_ + offset;
    add({0x75706c64 /* "upld" */, reinterpret_cast<uintptr_t>(dst), bytes, offset},
        [dst, src, bytes](cudaStream_t s) {
            SPOOL_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
        });
}

void StepGraph::end() {
    if (!active_) throw Error("StepGraph::end without begin");
    active_ = false;
    if (!use_graphs_) {
        for (const Launch& launch : launches_) launch(stream_);
    } else if (exec_ != nullptr && signature_ == graph_signature_) {
        SPOOL_CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
        ++replays_;
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
    SPOOL_CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
}

}  // namespace spool::cuda
