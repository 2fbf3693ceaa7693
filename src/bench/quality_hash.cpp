// The quality hash: the ids are serialized to little-endian bytes explicitly, so the hash is the same on
// every host; xxh64 comes from libxxhash.
#include "bench/quality_hash.h"

#include <xxhash.h>

#include <cstdio>
#include <vector>

namespace spool::bench {

uint64_t quality_hash(std::span<const int32_t> ids) {
    std::vector<unsigned char> bytes;
    bytes.reserve(ids.size() * 4);
    for (const int32_t id : ids) {
        const auto u = static_cast<uint32_t>(id);
        for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<unsigned char>(u >> (8 * b)));
    }
    return XXH64(bytes.data(), bytes.size(), 0);
}

std::string format_hash(uint64_t hash) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(hash));
    return buf;
}

}  // namespace spool::bench
