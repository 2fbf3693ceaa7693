// Sweep writers. CSV quoting follows RFC 4180 (quote a field holding a comma, quote or newline; double the quotes).
#include "bench/sweep_report.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <map>

#include "spool/errors.h"

namespace spool::bench {
namespace {

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string num(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

std::string temp_key(float t) { return num("%g", t); }

std::string group_key(const SweepRow& r, const std::string& by) {
    if (by == "max_tokens") return std::to_string(r.max_tokens);
    if (by == "temperature") return temp_key(r.temperature);
    if (by == "model") return r.model + "/" + r.backend;
    if (by == "prompt") return r.prompt_id;
    return "all";
}

nlohmann::json stats_json(const Stats& s) {
    return {{"n", s.n}, {"mean", s.mean}, {"sd", s.sd}, {"median", s.median}, {"min", s.min}, {"max", s.max}};
}

void write_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw SystemError("cannot write " + path.string());
    out << text;
    if (!out.flush()) throw SystemError("writing " + path.string() + " failed");
}

std::string group_table(const std::vector<SweepGroup>& groups, const std::string& key_name) {
    std::string s = "| " + key_name + " | n | latency s (mean ± sd) | latency min | latency max | TTFT s (mean ± sd) | "
                    "tok/s (mean ± sd) | tok/s min | tok/s max | tokens out (mean) |\n";
    s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const SweepGroup& g : groups) {
        s += "| " + g.key + " | " + std::to_string(g.latency_s.n) + " | " + format_mean_sd(g.latency_s, 4) + " | " +
             num("%.4f", g.latency_s.min) + " | " + num("%.4f", g.latency_s.max) + " | " + format_mean_sd(g.ttft_s, 4) +
             " | " + format_mean_sd(g.tok_s, 2) + " | " + num("%.2f", g.tok_s.min) + " | " + num("%.2f", g.tok_s.max) +
             " | " + num("%.1f", g.tokens_out.mean) + " |\n";
    }
    return s;
}

}  // namespace

const std::vector<std::string>& sweep_csv_columns() {
    static const std::vector<std::string> cols = {"model", "backend", "prompt_id", "prompt_tokens", "max_tokens",
                                                  "temperature", "run", "latency_s", "ttft_s", "tokens_out",
                                                  "tok_s", "decode_tok_s", "stop"};
    return cols;
}

std::string sweep_csv(const std::vector<SweepRow>& rows) {
    std::string s;
    const auto& cols = sweep_csv_columns();
    for (size_t i = 0; i < cols.size(); ++i) s += (i ? "," : "") + cols[i];
    s += "\n";
    for (const SweepRow& r : rows) {
        s += csv_field(r.model) + "," + csv_field(r.backend) + "," + csv_field(r.prompt_id) + "," +
             std::to_string(r.prompt_tokens) + "," + std::to_string(r.max_tokens) + "," + temp_key(r.temperature) + "," +
             std::to_string(r.run) + "," + num("%.6f", r.latency_s) + "," + num("%.6f", r.ttft_s) + "," +
             std::to_string(r.tokens_out) + "," + num("%.3f", r.tok_s) + "," + num("%.3f", r.decode_tok_s) + "," +
             csv_field(r.stop) + "\n";
    }
    return s;
}

nlohmann::json sweep_rows_json(const std::vector<SweepRow>& rows) {
    nlohmann::json a = nlohmann::json::array();
    for (const SweepRow& r : rows) {
        a.push_back({{"model", r.model}, {"backend", r.backend}, {"prompt_id", r.prompt_id},
                     {"prompt_tokens", r.prompt_tokens}, {"max_tokens", r.max_tokens},
                     {"temperature", r.temperature}, {"run", r.run}, {"latency_s", r.latency_s},
                     {"ttft_s", r.ttft_s}, {"tokens_out", r.tokens_out}, {"tok_s", r.tok_s},
                     {"decode_tok_s", r.decode_tok_s}, {"stop", r.stop}});
    }
    return a;
}

std::vector<SweepGroup> group_sweep(const std::vector<SweepRow>& rows, const std::string& by) {
    std::vector<std::string> order;
    std::map<std::string, std::vector<const SweepRow*>> members;
    for (const SweepRow& r : rows) {
        const std::string k = group_key(r, by);
        if (!members.count(k)) order.push_back(k);
        members[k].push_back(&r);
    }
    std::vector<SweepGroup> groups;
    for (const std::string& k : order) {
        std::vector<double> lat, ttft, tps, out;
        for (const SweepRow* r : members[k]) {
            lat.push_back(r->latency_s);
            ttft.push_back(r->ttft_s);
            tps.push_back(r->tok_s);
            out.push_back(r->tokens_out);
        }
        groups.push_back({k, summarize(lat), summarize(ttft), summarize(tps), summarize(out)});
    }
    return groups;
}

nlohmann::json sweep_summary_json(const SweepConfig& c, const std::vector<SweepRow>& rows, const SweepContext& ctx) {
    using nlohmann::json;
    json j;
    j["timestamp"] = ctx.timestamp;
    j["build"] = {{"version", ctx.build.version}, {"commit", ctx.build.commit}};
    j["machine"] = {{"cpu", ctx.machine.cpu}, {"logical_cpus", ctx.machine.logical_cpus}, {"os", ctx.machine.os}};
    j["devices"] = ctx.devices;
    json prompts = json::array();
    for (const Prompt& p : c.prompts) prompts.push_back({{"id", p.id}, {"text", p.text}});
    j["config"] = {{"models", c.models}, {"backends", c.backends}, {"prompts", prompts}, {"max_tokens", c.max_tokens},
                   {"temperatures", c.temperatures}, {"runs", c.runs}, {"seed", c.seed},
                   {"ignore_eos", c.ignore_eos}, {"batch_size", c.batch_size}};
    j["n_runs"] = rows.size();
    auto group_json = [](const SweepGroup& g) {
        return json{{"latency_s", stats_json(g.latency_s)}, {"ttft_s", stats_json(g.ttft_s)},
                    {"tok_s", stats_json(g.tok_s)}, {"tokens_out", stats_json(g.tokens_out)}};
    };
    const std::vector<SweepGroup> all = group_sweep(rows, "all");
    j["overall"] = all.empty() ? json(nullptr) : group_json(all.front());
    for (const char* by : {"max_tokens", "temperature", "prompt", "model"}) {
        json g = json::object();
        for (const SweepGroup& grp : group_sweep(rows, by)) g[grp.key] = group_json(grp);
        j["by_" + std::string(by)] = g;
    }
    return j;
}

std::string sweep_summary_md(const std::vector<SweepRow>& rows) {
    std::string s = "## Overall\n\n" + group_table(group_sweep(rows, "all"), "set");
    s += "\n## By output length (max tokens)\n\n" + group_table(group_sweep(rows, "max_tokens"), "max tokens");
    s += "\n## By temperature\n\n" + group_table(group_sweep(rows, "temperature"), "temperature");
    s += "\n## By prompt\n\n" + group_table(group_sweep(rows, "prompt"), "prompt");
    s += "\n## By model / backend\n\n" + group_table(group_sweep(rows, "model"), "model/backend");
    return s;
}

std::string sweep_report_md(const SweepConfig& c, const std::vector<SweepRow>& rows, const SweepContext& ctx) {
    std::string s = "# spool sweep report\n\n";
    s += "- Date (UTC): " + ctx.timestamp + "\n";
    s += "- spool " + ctx.build.version + " (" + ctx.build.commit + ")\n";
    s += "- Machine: " + ctx.machine.cpu + ", " + std::to_string(ctx.machine.logical_cpus) + " logical CPUs, " +
         ctx.machine.os + "\n";
    std::string models, backends, lens, temps;
    for (const std::string& m : c.models) models += (models.empty() ? "" : ", ") + m;
    for (const std::string& b : c.backends) backends += (backends.empty() ? "" : ", ") + b;
    for (const int m : c.max_tokens) lens += (lens.empty() ? "" : ", ") + std::to_string(m);
    for (const float t : c.temperatures) temps += (temps.empty() ? "" : ", ") + temp_key(t);
    s += "- Models: " + models + "; backends: " + backends + "\n";
    for (const std::string& d : ctx.devices) s += "- Device: " + d + "\n";
    s += "- Grid: " + std::to_string(c.prompts.size()) + " prompts x max tokens {" + lens + "} x temperatures {" + temps +
         "} x " + std::to_string(c.runs) + " runs = " + std::to_string(rows.size()) + " generations (one warm-up per "
         "model excluded; run r samples with seed " + std::to_string(c.seed) + " + r; " +
         (c.ignore_eos ? "end of generation ignored" : "stops at end of generation") + ")\n";
    s += "- Latency = prefill + every generated token; TTFT = prefill + first token; tok/s = tokens out / latency.\n";
    s += "- Data: runs.csv, runs.json (every generation), summary.json, summary.md.\n\n";
    s += "Prompts:\n\n";
    for (const Prompt& p : c.prompts) {
        std::string one = p.text;
        for (char& ch : one) {
            if (ch == '\n') ch = ' ';
        }
        if (one.size() > 120) one = one.substr(0, 117) + "...";
        s += "- `" + p.id + "`: " + one + "\n";
    }
    s += "\n" + sweep_summary_md(rows);
    s += "\n## Figures\n\n";
    if (ctx.figures.empty()) {
        s += ctx.plot_note + "\n";
    } else {
        for (const std::string& f : ctx.figures) s += "![" + f + "](" + f + ")\n\n";
        if (!ctx.plot_note.empty()) s += ctx.plot_note + "\n";
    }
    s += "\n## Interpretation\n\nLeft to the reader. The spread above is over runs on one machine at one time; "
         "compare sweeps only when machine, build and load are the same.\n";
    return s;
}

void write_sweep_data(const std::filesystem::path& dir, const SweepConfig& c, const std::vector<SweepRow>& rows,
                      const SweepContext& ctx) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw SystemError("cannot create the output directory " + dir.string() + ": " + ec.message());
    write_file(dir / "runs.csv", sweep_csv(rows));
    write_file(dir / "runs.json", sweep_rows_json(rows).dump(2) + "\n");
    write_file(dir / "summary.json", sweep_summary_json(c, rows, ctx).dump(2) + "\n");
    write_file(dir / "summary.md", "# spool sweep summary\n\n" + sweep_summary_md(rows));
}

void write_sweep_report(const std::filesystem::path& dir, const SweepConfig& c, const std::vector<SweepRow>& rows,
                        const SweepContext& ctx) {
    write_file(dir / "report.md", sweep_report_md(c, rows, ctx));
}

}  // namespace spool::bench
