// libFuzzer entry point for the GGUF reader: any byte string must parse or throw spool::Error, and a parsed
// file's metadata and tensor bytes must be readable without leaving the input (ASan/UBSan check that).
#include <cstddef>
#include <cstdint>

#include "gguf/file.h"
#include "spool/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const auto file = spool::gguf::GgufFile::parse(data, size, "fuzz.gguf");
        size_t sink = file.version() + file.alignment();
        for (const auto& [key, value] : file.metadata()) {
            sink += key.size() + value.to_display(4).size();
            if (file.find(key) == nullptr) __builtin_trap();  // every key must be found again
        }
        for (const auto& t : file.tensors()) {
            if (file.find_tensor(t.name) != &t) __builtin_trap();
            // Touch the first and last byte of each tensor: ASan reports any byte outside the input.
            sink += t.data[0] + t.data[t.n_bytes - 1] + static_cast<size_t>(t.n_rows());
            if (t.data < data || t.data + t.n_bytes > data + size) __builtin_trap();
        }
        (void)file.architecture();
        volatile size_t keep = sink;
        (void)keep;
    } catch (const spool::Error&) {
        // Rejected cleanly: the expected outcome for most inputs.
    }
    return 0;
}
