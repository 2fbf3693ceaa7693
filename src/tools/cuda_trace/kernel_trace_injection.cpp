// A CUPTI injection library that records every kernel's GPU start and end, including the kernels of replayed CUDA
// graphs, and writes them as CSV when the process exits. Why: the decode step is one graph of ~180 kernels chained by
// programmatic dependent launch, so the time a kernel adds to the step is not its duration alone (ncu times each
// launch by itself, with cold caches, and the device machine has no nsys). Use:
//   SPOOL_KERNEL_TRACE=trace.csv CUDA_INJECTION64_PATH=build/libspool_kernel_trace.so spool bench ...
//   python3 scripts/kernel_trace.py trace.csv
// The CUDA driver loads the library at cuInit and calls InitializeInjection. CUPTI hands records back through plain
// C callbacks with no user pointer, so the records live in one process-wide store: this library is a diagnostic
// attached to a process from outside, not part of the engine.
#include <cupti.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace {

struct KernelRecord {
    uint64_t start = 0, end = 0;
    uint32_t correlation = 0, graph_id = 0, stream = 0;
    int grid[3] = {}, block[3] = {};
    int registers = 0, shared_bytes = 0;
    std::string name;
};

struct TraceStore {
    std::mutex mutex;
    std::vector<KernelRecord> kernels;
    uint64_t dropped = 0;
};

TraceStore& store() {
    static TraceStore* s = new TraceStore;  // never destroyed: callbacks may still arrive during exit
    return *s;
}

constexpr size_t kBufferBytes = 16u << 20;

void report(const char* what, CUptiResult result) {
    const char* text = nullptr;
    cuptiGetResultString(result, &text);
    std::fprintf(stderr, "spool kernel trace: %s failed: %s\n", what, text != nullptr ? text : "unknown CUPTI error");
}

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
    *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
    *size = *buffer != nullptr ? kBufferBytes : 0;
    *max_records = 0;  // as many as fit
}

void CUPTIAPI buffer_completed(CUcontext context, uint32_t stream_id, uint8_t* buffer, size_t, size_t valid_bytes) {
    std::vector<KernelRecord> batch;
    CUpti_Activity* record = nullptr;
    while (cuptiActivityGetNextRecord(buffer, valid_bytes, &record) == CUPTI_SUCCESS) {
        if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && record->kind != CUPTI_ACTIVITY_KIND_KERNEL)
            continue;
        const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
        KernelRecord r;
        r.start = k->start;
        r.end = k->end;
        r.correlation = k->correlationId;
        r.graph_id = k->graphId;
        r.stream = k->streamId;
        r.grid[0] = k->gridX, r.grid[1] = k->gridY, r.grid[2] = k->gridZ;
        r.block[0] = k->blockX, r.block[1] = k->blockY, r.block[2] = k->blockZ;
        r.registers = k->registersPerThread;
        r.shared_bytes = k->staticSharedMemory + k->dynamicSharedMemory;
        r.name = k->name != nullptr ? k->name : "?";
        batch.push_back(std::move(r));
    }
    size_t dropped = 0;
    cuptiActivityGetNumDroppedRecords(context, stream_id, &dropped);  // of this buffer's context and stream
    std::free(buffer);
    TraceStore& s = store();
    std::lock_guard<std::mutex> lock(s.mutex);
    s.dropped += dropped;
    for (KernelRecord& r : batch) s.kernels.push_back(std::move(r));
}

// Kernel names are mangled C++; a comma or quote inside one would break the CSV, so the field is quoted.
std::string csv_quoted(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

void write_trace() {
    const CUptiResult flushed = cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    if (flushed != CUPTI_SUCCESS) report("cuptiActivityFlushAll", flushed);
    const char* path = std::getenv("SPOOL_KERNEL_TRACE");
    if (path == nullptr || *path == '\0') path = "spool_kernel_trace.csv";
    TraceStore& s = store();
    std::lock_guard<std::mutex> lock(s.mutex);
    std::FILE* f = std::fopen(path, "w");
    if (f == nullptr) {
        std::fprintf(stderr, "spool kernel trace: cannot write %s; set SPOOL_KERNEL_TRACE to a writable path\n", path);
        return;
    }
    std::fprintf(f, "start_ns,end_ns,correlation,graph_id,stream,grid_x,grid_y,grid_z,block_x,block_y,block_z,"
                    "registers,shared_bytes,name\n");
    for (const KernelRecord& r : s.kernels) {
        std::fprintf(f, "%llu,%llu,%u,%u,%u,%d,%d,%d,%d,%d,%d,%d,%d,%s\n", static_cast<unsigned long long>(r.start),
                     static_cast<unsigned long long>(r.end), r.correlation, r.graph_id, r.stream, r.grid[0],
                     r.grid[1], r.grid[2], r.block[0], r.block[1], r.block[2], r.registers, r.shared_bytes,
                     csv_quoted(r.name).c_str());
    }
    std::fclose(f);
    std::fprintf(stderr, "spool kernel trace: %zu kernels written to %s%s\n", s.kernels.size(), path,
                 s.dropped != 0 ? " (CUPTI dropped some records: the trace is incomplete)" : "");
}

// The runtime may tear the context down before write_trace runs: flush its records while it still exists.
void CUPTIAPI on_resource(void*, CUpti_CallbackDomain domain, CUpti_CallbackId id, const void*) {
    if (domain == CUPTI_CB_DOMAIN_RESOURCE && id == CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING) {
        cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
    }
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int InitializeInjection(void) {
    CUptiResult result = cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
    if (result != CUPTI_SUCCESS) {
        report("cuptiActivityRegisterCallbacks", result);
        return 0;
    }
    // CONCURRENT_KERNEL, not KERNEL: the latter serializes kernels, which would remove the very overlap of
    // programmatic dependent launches the trace is meant to show.
    result = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
    if (result != CUPTI_SUCCESS) {
        report("cuptiActivityEnable(CONCURRENT_KERNEL)", result);
        return 0;
    }
    CUpti_SubscriberHandle subscriber = nullptr;
    if (cuptiSubscribe(&subscriber, on_resource, nullptr) == CUPTI_SUCCESS) {
        cuptiEnableCallback(1, subscriber, CUPTI_CB_DOMAIN_RESOURCE, CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING);
    }
    std::atexit(write_trace);
    return 1;
}
