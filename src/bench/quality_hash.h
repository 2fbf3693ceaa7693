// The quality hash: xxh64 (seed 0) of the first 16 greedy token ids of a fixed prompt, each id stored as a
// little-endian int32. Printed and logged with the ids, so a speed change that silently changed the output
// shows up as a different hash (calm prints a logits hash after every run for the same reason).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace spool::bench {

// The fixed prompt; it is tokenized with the model's own tokenizer (BOS added as the vocabulary asks).
inline constexpr const char* kQualityPrompt = "Once upon a time, in a small village by the sea, there lived";
inline constexpr int kQualityTokens = 16;  // greedy tokens generated after the prompt

// xxh64, seed 0, over the ids as consecutive little-endian int32 (4 bytes each, whatever the host order).
uint64_t quality_hash(std::span<const int32_t> ids);

// "0x" + 16 lower-case hex digits.
std::string format_hash(uint64_t hash);

}  // namespace spool::bench
