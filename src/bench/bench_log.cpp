// BENCHMARKS.md writer and parser. The parser only relies on what the writer produces: "## " and "### " headings,
// "| a | b |" table rows with "\|" escapes, and the quality-token table inside <details>.
#include "bench/bench_log.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

#include "bench/quality_hash.h"
#include "runtime/kv_cache.h"
#include "bench/report.h"
#include "spool/errors.h"
#include "tokenizer/utf8.h"

namespace spool::bench {
namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        lines.push_back(text.substr(pos, end - pos));
        pos = end + 1;
    }
    return lines;
}

std::string_view rtrim(std::string_view s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::string trim(std::string_view s) {
    s = rtrim(s);
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    return std::string(s);
}

bool is_fence(std::string_view line) { return trim(line).rfind("```", 0) == 0; }
bool is_level(std::string_view line, int level) {  // "## x" for level 2: exactly `level` hashes then a space
    if (line.size() <= static_cast<size_t>(level)) return false;
    for (int i = 0; i < level; ++i) {
        if (line[static_cast<size_t>(i)] != '#') return false;
    }
    return line[static_cast<size_t>(level)] == ' ';
}
bool ends_section(std::string_view line) { return is_level(line, 1) || is_level(line, 2); }

std::string escape_cell(std::string_view s) {
    std::string out;
    for (const char c : s) {
        if (c == '|') {
            out += "\\|";
        } else if (c == '\n' || c == '\r') {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

// Cells of "| a | b \| c |": split on unescaped '|', unescape, trim.
std::vector<std::string> table_cells(std::string_view line) {
    std::vector<std::string> cells;
    std::string_view s = rtrim(line);
    if (s.empty() || s.front() != '|') return cells;
    s.remove_prefix(1);
    std::string cur;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '|') {
            cur += '|';
            ++i;
        } else if (s[i] == '|') {
            cells.push_back(trim(cur));
            cur.clear();
        } else {
            cur += s[i];
        }
    }
    if (!trim(cur).empty()) cells.push_back(trim(cur));
    return cells;
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (const char c : s) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

// A token's text for a table cell: JSON-quoted, so spaces and control characters are visible.
std::string piece_cell(const std::string& piece) {
    return escape_cell(nlohmann::json(tokenizer::utf8::sanitize(piece)).dump());
}

}  // namespace

const std::string* LogEntry::find(std::string_view metric) const noexcept {
    for (const auto& [k, v] : metrics) {
        if (k == metric) return &v;
    }
    return nullptr;
}

std::vector<std::pair<std::string, std::string>> log_metrics(const BenchResult& r) {
    const Roofline f = roofline(r);
    std::vector<std::pair<std::string, std::string>> m;
    m.emplace_back("Model", r.model.file_name + " (" + r.model.file_type + ", " + format_mib(r.model.file_bytes) + ")");
    m.emplace_back("Architecture", r.model.architecture);
    m.emplace_back("Layers", std::to_string(r.model.n_layer));
    m.emplace_back("Embedding", std::to_string(r.model.n_embd));
    std::string dev = r.device.backend;
    if (!r.device.isa.empty()) dev += " (" + r.device.isa + ")";
    if (!r.device.gpu.empty()) {
        dev += " / " + r.device.gpu + (r.device.gpu_driver.empty() ? "" : " (driver " + r.device.gpu_driver + ")");
    }
    m.emplace_back("Backend/Device", dev);
    m.emplace_back("Threads", std::to_string(r.device.n_threads));
    m.emplace_back("Settings", "-p " + std::to_string(r.settings.n_prompt) + " -n " + std::to_string(r.settings.n_gen) +
                                   " -r " + std::to_string(r.settings.reps) + ", batch " +
                                   std::to_string(r.settings.batch_size) + ", KV " +
                                   runtime::kv_cache_text(r.settings.kv_type, r.settings.kv_type_v) +
                                   ngl_text(r.settings) + ", warm-up excluded");
    std::string load = r.reload_ms.empty() ? fmt("%.2f ms", r.first_load_ms) + " (first load only)"
                                           : format_mean_sd(r.load_stats(), 2) + " ms (warm reloads, n=" +
                                                 std::to_string(r.reload_ms.size()) + ")";
    load += "; first load " + fmt("%.2f ms", r.first_load_ms) + " with " +
            fmt("%.1f%%", 100.0 * r.residency_before.fraction()) + " of the file cached" +
            (r.cache_dropped ? " after --drop-cache" : "");
    m.emplace_back("Load Time", load);
    std::string prefill = format_mean_sd(r.prefill_stats(), 2) + " tok/s (n=" + std::to_string(r.prefill_tok_s.size()) +
                          "; " + format_gbs(f.prefill_gb_s) + " of weights";
    if (f.prefill_fraction) prefill += ", " + fmt("%.1f%%", 100.0 * *f.prefill_fraction) + " of the bandwidth";
    m.emplace_back("Prefill", prefill + ")");
    std::string gen = format_mean_sd(r.decode_stats(), 2) + " tok/s (n=" + std::to_string(r.decode_tok_s.size()) +
                      ", greedy sampling included; forward only " + format_mean_sd(r.forward_stats(), 2) + " tok/s = " +
                      format_gbs(f.decode_gb_s) + " of weights";
    if (f.decode_fraction) {
        gen += ", " + fmt("%.1f%%", 100.0 * *f.decode_fraction) + " of the " +
               fmt("%.1f tok/s", *f.decode_roofline_tok_s) + " roofline";
    }
    m.emplace_back("Generation", gen + ")");
    if (!r.step_device_ms.empty()) {
        std::string step = format_mean_sd(summarize(r.step_device_us()), 1) + " us on the device per decode step";
        if (const std::vector<double> host = r.step_host_us(); !host.empty()) {
            step += "; host and launch " + fmt("%.1f", summarize(host).mean) + " us per token beyond it";
        }
        m.emplace_back("Decode step", step);
    }
    m.emplace_back("TTFT", format_mean_sd(r.ttft_stats(), 2) + " ms (n=" + std::to_string(r.ttft_ms.size()) + ")");
    std::string mem = format_mib(r.peak_rss_bytes) + " (VmHWM)";
    if (r.peak_device_bytes) mem += "; GPU " + format_mib(*r.peak_device_bytes);
    m.emplace_back("Peak memory", mem);
    if (r.bandwidth) m.emplace_back("Bandwidth", fmt("%.2f GB/s", r.bandwidth->gb_per_s) + " (" + r.bandwidth->source + ")");
    m.emplace_back("Quality Hash", format_hash(r.quality_hash));
    m.emplace_back("Machine", r.machine.cpu + ", " + std::to_string(r.machine.logical_cpus) + " logical CPUs, " + r.machine.os);
    m.emplace_back("Commit", "spool " + r.build.version + " (" + r.build.commit + ")");
    return m;
}

std::string format_log_entry(const BenchResult& r, std::string_view change) {
    std::string one_line(change);
    for (char& c : one_line) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    std::string s = "### " + r.timestamp + " - " + trim(one_line) + "\n\n| Metric | Value |\n|---|---|\n";
    for (const auto& [k, v] : log_metrics(r)) s += "| " + escape_cell(k) + " | " + escape_cell(v) + " |\n";
    s += "\n<details><summary>Quality tokens</summary>\n\n";
    s += "Prompt: " + escape_cell(nlohmann::json(std::string(kQualityPrompt)).dump()) + " (" +
         std::to_string(r.quality_prompt_ids.size()) + " tokens); " + std::to_string(r.quality_ids.size()) +
         " greedy tokens; hash = xxh64 (seed 0) of the ids as little-endian int32.\n\n";
    s += "| # | id | text |\n|---:|---:|---|\n";
    std::string text;
    for (size_t i = 0; i < r.quality_ids.size(); ++i) {
        const std::string piece = i < r.quality_pieces.size() ? r.quality_pieces[i] : std::string();
        text += piece;
        s += "| " + std::to_string(i + 1) + " | " + std::to_string(r.quality_ids[i]) + " | " + piece_cell(piece) + " |\n";
    }
    s += "\nText: " + piece_cell(text) + "\n\n</details>\n";
    return s;
}

std::string insert_log_entry(std::string_view text, std::string_view title, std::string_view entry) {
    const std::vector<std::string_view> lines = split_lines(text);
    const std::string heading = "## " + trim(title);
    std::string body(entry);
    if (body.empty() || body.back() != '\n') body += '\n';

    size_t start = lines.size();
    bool fenced = false;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (is_fence(lines[i])) fenced = !fenced;
        if (!fenced && rtrim(lines[i]) == heading) {
            start = i;
            break;
        }
    }
    std::string out;
    if (start == lines.size()) {  // a new section at the end
        out = std::string(text);
        if (!out.empty() && out.back() != '\n') out += '\n';
        if (!out.empty() && !(lines.empty() || trim(lines.back()).empty())) out += '\n';
        return out + heading + "\n\n" + body;
    }
    size_t end = lines.size();
    fenced = false;
    for (size_t i = start + 1; i < lines.size(); ++i) {
        if (is_fence(lines[i])) fenced = !fenced;
        if (!fenced && ends_section(lines[i])) {
            end = i;
            break;
        }
    }
    for (size_t i = 0; i < end; ++i) out += std::string(lines[i]) + "\n";
    if (!trim(lines[end - 1]).empty()) out += '\n';
    out += body;
    if (end < lines.size()) {
        if (!trim(lines[end]).empty()) out += '\n';
        for (size_t i = end; i < lines.size(); ++i) out += std::string(lines[i]) + "\n";
        if (!text.empty() && text.back() != '\n') out.pop_back();  // keep a missing final newline missing
    }
    return out;
}

void append_log_entry(const std::filesystem::path& path, std::string_view title, std::string_view entry) {
    std::string text;
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw SystemError("cannot read the benchmark log " + path.string());
        std::stringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    } else {
        text = "# spool benchmarks\n\nEntries are appended by `spool bench -m MODEL --title T --change C` from real runs; "
               "compare the entries under a title with `spool bench --compare T`.\n";
    }
    const std::string updated = insert_log_entry(text, title, entry);
    const std::filesystem::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw SystemError("cannot write " + tmp.string() + " (is the directory writable?)");
        out << updated;
        if (!out.flush()) throw SystemError("writing " + tmp.string() + " failed");
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) throw SystemError("cannot replace " + path.string() + ": " + ec.message());
}

std::vector<LogEntry> parse_log_entries(std::string_view text, std::string_view title) {
    const std::vector<std::string_view> lines = split_lines(text);
    const std::string heading = "## " + trim(title);
    std::vector<LogEntry> entries;
    bool fenced = false, in_section = false, in_details = false;
    for (const std::string_view raw : lines) {
        const std::string_view line = rtrim(raw);
        if (is_fence(line)) fenced = !fenced;
        if (fenced) continue;
        if (ends_section(line)) {
            in_section = line == heading;
            in_details = false;
            continue;
        }
        if (!in_section) continue;
        if (is_level(line, 3)) {
            LogEntry e;
            const std::string h = trim(line.substr(4));
            const size_t dash = h.find(" - ");
            e.timestamp = dash == std::string::npos ? h : h.substr(0, dash);
            e.change = dash == std::string::npos ? std::string() : h.substr(dash + 3);
            entries.push_back(std::move(e));
            in_details = false;
            continue;
        }
        if (entries.empty()) continue;
        if (line.find("<details>") != std::string_view::npos) in_details = true;
        if (line.find("</details>") != std::string_view::npos) in_details = false;
        const std::vector<std::string> cells = table_cells(line);
        if (cells.size() < 2) continue;
        LogEntry& e = entries.back();
        if (in_details) {
            if (cells.size() >= 3 && all_digits(cells[0]) && !cells[1].empty()) {
                try {
                    e.quality_ids.push_back(static_cast<int32_t>(std::stol(cells[1])));
                } catch (const std::exception&) {
                    // not a token row
                }
            }
        } else if (cells[0] != "Metric" && cells[0].find("---") == std::string::npos) {
            e.metrics.emplace_back(cells[0], cells[1]);
        }
    }
    return entries;
}

std::vector<std::string> log_titles(std::string_view text) {
    std::vector<std::string> titles;
    bool fenced = false;
    for (const std::string_view line : split_lines(text)) {
        if (is_fence(line)) fenced = !fenced;
        if (!fenced && is_level(line, 2)) titles.push_back(trim(line.substr(3)));
    }
    return titles;
}

}  // namespace spool::bench
