// A hand-made BenchResult with round numbers, for the log and compare tests.
#pragma once

#include <string>
#include <vector>

#include "bench/quality_hash.h"
#include "bench/result.h"

namespace spool::bench::testing {

inline BenchResult sample_result(double prefill_scale = 1.0, int32_t last_id = 16, std::string ts = "2026-01-02T03:04:05Z") {
    BenchResult r;
    r.timestamp = std::move(ts);
    r.build = {"0.1.0", "abc1234"};
    r.machine = {"Test CPU @ 2.0GHz", 8, "Linux 6.1 x86_64"};
    r.model.file_name = "tiny-Q8_0.gguf";
    r.model.file_type = "Q8_0";
    r.model.file_bytes = 9437184;  // 9.00 MiB
    r.model.architecture = "llama";
    r.model.n_layer = 4;
    r.model.n_embd = 256;
    r.model.weight_bytes_per_token = 2000000;
    r.device = {"cpu", "avx512", 4, "", ""};
    r.settings.n_prompt = 64;
    r.settings.n_gen = 32;
    r.settings.reps = 3;
    r.settings.batch_size = 512;
    r.first_load_ms = 5;
    r.reload_ms = {1.0, 2.0, 3.0};
    r.residency_before = {100, 40};
    r.prefill_tok_s = {1000 * prefill_scale, 1100 * prefill_scale, 1200 * prefill_scale};
    r.prefill_ms = {64, 58, 53};
    r.decode_tok_s = {200, 210, 220};
    r.forward_tok_s = {400, 420, 440};
    r.sample_ms_per_token = {0.5, 0.5, 0.5};
    r.decode_ms = {160, 152, 145};
    r.ttft_ms = {10, 11, 12};
    r.peak_rss_bytes = 50ull << 20;
    for (int32_t i = 1; i <= 15; ++i) {
        r.quality_ids.push_back(i);
        r.quality_pieces.push_back(i == 3 ? " a|b" : "t" + std::to_string(i));
    }
    r.quality_ids.push_back(last_id);
    r.quality_pieces.push_back("\n");
    r.quality_prompt_ids = {1, 2, 3};
    r.quality_hash = quality_hash(r.quality_ids);
    return r;
}

}  // namespace spool::bench::testing
