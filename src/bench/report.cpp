// The bench report and JSON record. Numbers carry their spread (mean ± sd over repetitions) and their sample
// count, and every speed is shown with the bytes it moved, so no figure stands without its context.
#include "bench/report.h"

#include <nlohmann/json.hpp>

#include <cstdio>

#include "bench/quality_hash.h"
#include "runtime/kv_cache.h"
#include "tokenizer/utf8.h"

namespace spool::bench {
namespace {

std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

std::string pct(double fraction) { return fmt("%.1f%%", fraction * 100.0); }

}  // namespace

std::string ngl_text(const BenchSettings& s) {
    return s.n_gpu_layers >= 0 ? ", -ngl " + std::to_string(s.n_gpu_layers) : "";
}

namespace {

nlohmann::json stats_json(const Stats& s) {
    return {{"n", s.n}, {"mean", s.mean}, {"median", s.median}, {"sd", s.sd}, {"min", s.min}, {"max", s.max}};
}

// Null where nothing was measured (host backends).
nlohmann::json optional_stats_json(const std::vector<double>& samples) {
    return samples.empty() ? nlohmann::json(nullptr) : stats_json(summarize(samples));
}

std::string stats_line(const Stats& s, int decimals, const char* unit) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s %s  (median %.*f, min %.*f, max %.*f, n=%zu)", format_mean_sd(s, decimals).c_str(),
                  unit, decimals, s.median, decimals, s.min, decimals, s.max, s.n);
    return buf;
}

std::string residency_text(const Residency& r) {
    return pct(r.fraction()) + " of " + std::to_string(r.pages) + " pages in the page cache";
}

}  // namespace

std::string format_gbs(double v) { return fmt(v < 1.0 ? "%.3g GB/s" : "%.2f GB/s", v); }

std::string format_mib(uint64_t bytes) { return fmt("%.2f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

Roofline roofline(const BenchResult& r) {
    Roofline f;
    const double wpt = static_cast<double>(r.model.weight_bytes_per_token);
    const Stats dec = r.forward_stats();  // sampling moves no weights
    f.decode_gb_s = dec.mean * wpt / 1e9;
    const Stats pre_ms = summarize(r.prefill_ms);
    if (pre_ms.mean > 0) f.prefill_gb_s = static_cast<double>(r.prefill_chunks()) * wpt / (pre_ms.mean / 1000.0) / 1e9;
    if (r.bandwidth && r.bandwidth->gb_per_s > 0 && wpt > 0) {
        const double bw = r.bandwidth->gb_per_s;
        f.bandwidth_gb_s = bw;
        f.decode_roofline_tok_s = bw * 1e9 / wpt;
        f.decode_fraction = dec.mean / *f.decode_roofline_tok_s;
        f.prefill_fraction = f.prefill_gb_s / bw;
    }
    return f;
}

std::string format_report(const BenchResult& r) {
    const Roofline f = roofline(r);
    std::string s;
    auto line = [&](const std::string& k, const std::string& v) {
        std::string key = k + ":";
        key.resize(std::max<size_t>(key.size(), 16), ' ');
        s += "  " + key + v + "\n";
    };
    s += "spool bench " + r.timestamp + "\n";
    line("model", r.model.file_name + " (" + r.model.file_type + ", " + format_mib(r.model.file_bytes) + ", " +
                      r.model.architecture + ", " + std::to_string(r.model.n_layer) + " layers, n_embd " +
                      std::to_string(r.model.n_embd) + ")");
    std::string dev = r.device.backend;
    if (!r.device.isa.empty()) dev += " (" + r.device.isa + ")";
    if (!r.device.gpu.empty()) dev += " on " + r.device.gpu + (r.device.gpu_driver.empty() ? "" : ", driver " + r.device.gpu_driver);
    line("backend", dev + ", " + std::to_string(r.device.n_threads) + " threads");
    line("machine", r.machine.cpu + ", " + std::to_string(r.machine.logical_cpus) + " logical CPUs, " + r.machine.os);
    line("spool", r.build.version + " (" + r.build.commit + ")");
    line("settings", "-p " + std::to_string(r.settings.n_prompt) + " -n " + std::to_string(r.settings.n_gen) + " -r " +
                         std::to_string(r.settings.reps) + ", batch " + std::to_string(r.settings.batch_size) +
                         ", KV " + runtime::kv_cache_text(r.settings.kv_type, r.settings.kv_type_v) +
                         ngl_text(r.settings) + "; one warm-up run excluded");
    s += "\n";
    line("page cache", std::string(r.cache_dropped ? "dropped (posix_fadvise DONTNEED), then " : "") +
                           residency_text(r.residency_before) + " before loading; " +
                           pct(r.residency_after.fraction()) + " after the runs");
    const double cached = r.residency_before.fraction();
    const char* state = cached >= 0.99 ? " (warm: the file was cached)" : cached <= 0.01 ? " (cold: the file was not cached)"
                                                                                        : " (partly cached)";
    line("first load", fmt("%.2f ms", r.first_load_ms) + state +
                           "; warm-up prefill " + fmt("%.2f ms", r.warmup_prefill_ms));
    if (!r.reload_ms.empty()) line("load (warm)", stats_line(r.load_stats(), 2, "ms"));
    line("prefill", stats_line(r.prefill_stats(), 2, "tok/s"));
    line("generation", stats_line(r.decode_stats(), 2, "tok/s") + " (each step with its greedy sample)");
    line("  forward only", stats_line(r.forward_stats(), 2, "tok/s") + "; sampling " +
                               fmt("%.3f", summarize(r.sample_ms_per_token).mean) + " ms/token");
    if (!r.step_device_ms.empty()) {
        std::string device = stats_line(summarize(r.step_device_us()), 1, "us per step") +
                             " (events from each step's graph launch to its end)";
        if (const std::vector<double> host = r.step_host_us(); !host.empty()) {
            device += "; host work and launch: " + fmt("%.1f", summarize(host).mean) + " us per token beyond it";
        }
        line("  on the GPU", device);
    }
    line("TTFT", stats_line(r.ttft_stats(), 2, "ms") + " (prefill of " + std::to_string(r.settings.n_prompt) +
                     " tokens + first greedy token)");
    std::string mem = format_mib(r.peak_rss_bytes) + " peak resident (VmHWM; mapped weight pages count once touched)";
    if (r.peak_device_bytes) mem += "; GPU " + format_mib(*r.peak_device_bytes) + " in use at most (sampled)";
    line("peak memory", mem);
    std::string bytes = "decode reads " + format_mib(r.model.weight_bytes_per_token) + " of weights per token: forward " +
                        format_gbs(f.decode_gb_s) + "; prefill " + format_gbs(f.prefill_gb_s) +
                        " of weights (" + std::to_string(r.prefill_chunks()) + " chunk(s) per prompt)";
    line("bytes moved", bytes);
    if (f.bandwidth_gb_s) {
        line("roofline", fmt("%.2f GB/s", *f.bandwidth_gb_s) + " [" + r.bandwidth->source + "]: decode roofline " +
                             fmt("%.2f tok/s", *f.decode_roofline_tok_s) + ", forward-only decode reaches " +
                             pct(*f.decode_fraction) + " of it; prefill at " + pct(*f.prefill_fraction) + " of the bandwidth (compute-bound)");
    }
    std::string ids;
    for (size_t i = 0; i < r.quality_ids.size(); ++i) ids += (i ? " " : "") + std::to_string(r.quality_ids[i]);
    line("quality hash", format_hash(r.quality_hash) + " = xxh64(seed 0) of " + std::to_string(r.quality_ids.size()) +
                             " greedy ids as little-endian int32");
    line("quality prompt", "\"" + std::string(kQualityPrompt) + "\"");
    line("quality ids", ids);
    std::string text;
    for (const std::string& p : r.quality_pieces) text += p;
    line("quality text", nlohmann::json(tokenizer::utf8::sanitize(text)).dump());
    return s;
}

nlohmann::json to_json(const BenchResult& r) {
    using nlohmann::json;
    const Roofline f = roofline(r);
    json j;
    j["timestamp"] = r.timestamp;
    j["build"] = {{"version", r.build.version}, {"commit", r.build.commit}};
    j["machine"] = {{"cpu", r.machine.cpu}, {"logical_cpus", r.machine.logical_cpus}, {"os", r.machine.os}};
    j["model"] = {{"path", r.model.path},
                  {"file_name", r.model.file_name},
                  {"file_bytes", r.model.file_bytes},
                  {"file_type", r.model.file_type},
                  {"architecture", r.model.architecture},
                  {"n_layer", r.model.n_layer},
                  {"n_embd", r.model.n_embd},
                  {"n_vocab", r.model.n_vocab},
                  {"weight_bytes", r.model.weight_bytes},
                  {"n_params", r.model.n_params},
                  {"weight_bytes_per_token", r.model.weight_bytes_per_token}};
    j["device"] = {{"backend", r.device.backend}, {"isa", r.device.isa}, {"n_threads", r.device.n_threads},
                   {"gpu", r.device.gpu}, {"gpu_driver", r.device.gpu_driver}};
    j["settings"] = {{"n_prompt", r.settings.n_prompt}, {"n_gen", r.settings.n_gen}, {"reps", r.settings.reps},
                     {"batch_size", r.settings.batch_size}, {"kv_type", r.settings.kv_type},
                     {"kv_type_v", r.settings.kv_type_v.empty() ? r.settings.kv_type : r.settings.kv_type_v},
                     {"n_gpu_layers", r.settings.n_gpu_layers}, {"drop_cache", r.settings.drop_cache}};
    j["load"] = {{"first_ms", r.first_load_ms},
                 {"cache_dropped", r.cache_dropped},
                 {"pages", r.residency_before.pages},
                 {"resident_pages_before", r.residency_before.resident},
                 {"resident_pages_after", r.residency_after.resident},
                 {"warm_reload_ms", r.reload_ms},
                 {"warm_reload", stats_json(r.load_stats())},
                 {"warmup_prefill_ms", r.warmup_prefill_ms}};
    j["prefill"] = {{"tok_s", stats_json(r.prefill_stats())}, {"samples_tok_s", r.prefill_tok_s},
                    {"samples_ms", r.prefill_ms}, {"gb_s", f.prefill_gb_s}};
    j["generation"] = {{"tok_s", stats_json(r.decode_stats())}, {"samples_tok_s", r.decode_tok_s},
                       {"samples_ms", r.decode_ms}, {"forward_tok_s", stats_json(r.forward_stats())},
                       {"samples_forward_tok_s", r.forward_tok_s},
                       {"sample_ms_per_token", stats_json(summarize(r.sample_ms_per_token))},
                       {"forward_gb_s", f.decode_gb_s},
                       {"step_device_us", optional_stats_json(r.step_device_us())},
                       {"samples_step_device_us", r.step_device_us()},
                       {"step_host_us", optional_stats_json(r.step_host_us())}};
    j["ttft_ms"] = {{"stats", stats_json(r.ttft_stats())}, {"samples", r.ttft_ms}};
    j["peak_rss_bytes"] = r.peak_rss_bytes;
    j["peak_device_bytes"] = r.peak_device_bytes ? json(*r.peak_device_bytes) : json(nullptr);
    json rf = json::object();
    if (f.bandwidth_gb_s) {
        rf = {{"bandwidth_gb_s", *f.bandwidth_gb_s}, {"source", r.bandwidth->source},
              {"decode_roofline_tok_s", *f.decode_roofline_tok_s}, {"decode_fraction", *f.decode_fraction},
              {"prefill_fraction", *f.prefill_fraction}};
    }
    j["roofline"] = rf;
    std::vector<std::string> pieces;
    std::string text;
    for (const std::string& p : r.quality_pieces) {
        pieces.push_back(tokenizer::utf8::sanitize(p));
        text += p;
    }
    j["quality"] = {{"prompt", kQualityPrompt}, {"prompt_ids", r.quality_prompt_ids}, {"ids", r.quality_ids},
                    {"pieces", pieces}, {"text", tokenizer::utf8::sanitize(text)}, {"hash", format_hash(r.quality_hash)},
                    {"hash_definition", "xxh64 seed 0 over the ids as little-endian int32"}};
    return j;
}

}  // namespace spool::bench
