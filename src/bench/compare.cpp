// Entry-against-first comparison of the benchmark log, with the noise rule |diff| > 2 * sqrt(sd1^2 + sd2^2):
// two standard deviations of the difference of two independent means' spreads, a deliberately simple test.
#include "bench/compare.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace spool::bench {
namespace {

struct MetricSpec {
    const char* name;
    bool higher_is_better;
    const char* unit;
};
constexpr MetricSpec kMetrics[] = {
    {"Load Time", false, "ms"}, {"Prefill", true, "tok/s"}, {"Generation", true, "tok/s"}, {"TTFT", false, "ms"},
    {"Peak memory", false, "MiB"},
};
// Rows whose difference makes a comparison doubtful; a change in any of them is pointed out.
constexpr const char* kContext[] = {"Model", "Backend/Device", "Threads", "Settings", "Machine", "Commit"};

const char* unit_of(const std::string& metric) {
    for (const MetricSpec& m : kMetrics) {
        if (metric == m.name) return m.unit;
    }
    return "";
}

std::string fmt_value(const std::optional<LoggedValue>& v) {
    if (!v) return "n/a";
    char buf[64];
    if (v->sd) {
        std::snprintf(buf, sizeof buf, "%.2f ± %.2f", v->mean, *v->sd);
    } else {
        std::snprintf(buf, sizeof buf, "%.2f", v->mean);
    }
    return buf;
}

std::string pad(std::string s, size_t width) {
    // Pads by display columns: "±" is two bytes but one column.
    size_t cols = 0;
    for (const unsigned char c : s) cols += (c & 0xC0) != 0x80;
    if (cols < width) s.append(width - cols, ' ');
    return s;
}

}  // namespace

std::optional<LoggedValue> parse_logged_value(const std::string& text) {
    const char* p = text.c_str();
    while (*p == ' ') ++p;
    char* end = nullptr;
    const double mean = std::strtod(p, &end);
    if (end == p || !std::isfinite(mean)) return std::nullopt;
    LoggedValue v{mean, std::nullopt};
    const std::string rest(end);
    const size_t pm = rest.find("±");
    if (pm != std::string::npos && rest.find_first_not_of(' ') == pm) {
        const char* q = rest.c_str() + pm + std::string("±").size();
        char* qend = nullptr;
        const double sd = std::strtod(q, &qend);
        if (qend != q && std::isfinite(sd)) v.sd = sd;
    }
    return v;
}

bool outside_noise(double m1, double sd1, double m2, double sd2) {
    return std::fabs(m2 - m1) > 2.0 * std::sqrt(sd1 * sd1 + sd2 * sd2);
}

std::vector<EntryComparison> compare_log_entries(const std::vector<LogEntry>& entries) {
    std::vector<EntryComparison> out;
    if (entries.empty()) return out;
    const LogEntry& first = entries.front();
    for (size_t i = 1; i < entries.size(); ++i) {
        EntryComparison c;
        c.first = &first;
        c.entry = &entries[i];
        for (const MetricSpec& spec : kMetrics) {
            MetricChange m;
            m.metric = spec.name;
            m.higher_is_better = spec.higher_is_better;
            if (const std::string* v = first.find(spec.name)) m.first = parse_logged_value(*v);
            if (const std::string* v = entries[i].find(spec.name)) m.current = parse_logged_value(*v);
            if (m.first && m.current) {
                const double d = m.current->mean - m.first->mean;
                m.percent = m.first->mean != 0 ? d / m.first->mean * 100.0 : 0.0;
                m.better = spec.higher_is_better ? d > 0 : d < 0;
                m.has_noise = m.first->sd.has_value() && m.current->sd.has_value();
                if (m.has_noise) m.significant = outside_noise(m.first->mean, *m.first->sd, m.current->mean, *m.current->sd);
            }
            c.changes.push_back(m);
        }
        const std::string* h1 = first.find("Quality Hash");
        const std::string* h2 = entries[i].find("Quality Hash");
        c.first_hash = h1 ? *h1 : "";
        c.hash = h2 ? *h2 : "";
        c.hash_changed = c.first_hash != c.hash;
        out.push_back(std::move(c));
    }
    return out;
}

std::string format_comparison(const std::string& title, const std::vector<LogEntry>& entries,
                              const std::vector<EntryComparison>& comparisons) {
    std::string s;
    if (entries.empty()) return "no entries under \"## " + title + "\"\n";
    s += std::to_string(entries.size()) + " entries under \"## " + title + "\"; each is compared with the first:\n";
    s += "  [1] " + entries.front().timestamp + " - " + entries.front().change + "\n";
    if (entries.size() == 1) return s + "nothing to compare: only one entry\n";
    const std::string bang(100, '!');
    for (size_t i = 0; i < comparisons.size(); ++i) {
        const EntryComparison& c = comparisons[i];
        s += "\n[" + std::to_string(i + 2) + "] " + c.entry->timestamp + " - " + c.entry->change + "\n";
        for (const char* key : kContext) {
            const std::string* a = c.first->find(key);
            const std::string* b = c.entry->find(key);
            if (a && b && *a != *b) s += "  note: " + std::string(key) + " differs: " + *a + " -> " + *b + "\n";
        }
        s += "  " + pad("metric", 19) + pad("first", 22) + pad("this", 22) + pad("change", 10) + "verdict\n";
        for (const MetricChange& m : c.changes) {
            std::string change = "n/a", verdict;
            if (m.first && m.current) {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%+.1f%%", m.percent);
                change = buf;
                if (!m.has_noise) {
                    verdict = "no spread recorded: cannot tell noise from change";
                } else if (!m.significant) {
                    verdict = "within noise";
                } else {
                    char why[96];
                    const double noise = 2.0 * std::sqrt(*m.first->sd * *m.first->sd + *m.current->sd * *m.current->sd);
                    std::snprintf(why, sizeof why, " (|diff| %.2f > 2*sqrt(sd1^2+sd2^2) = %.2f)",
                                  std::fabs(m.current->mean - m.first->mean), noise);
                    verdict = std::string(m.better ? "BETTER" : "WORSE") + why;
                }
            } else {
                verdict = "missing in " + std::string(!m.first ? "the first entry" : "this entry");
            }
            s += "  " + pad(m.metric + " (" + unit_of(m.metric) + ")", 19) + pad(fmt_value(m.first), 22) + pad(fmt_value(m.current), 22) +
                 pad(change, 10) + verdict + "\n";
        }
        s += "  " + pad("Quality Hash", 19) + pad(c.first_hash.empty() ? "n/a" : c.first_hash, 22) +
             pad(c.hash.empty() ? "n/a" : c.hash, 22) + pad("", 10) + (c.hash_changed ? "CHANGED" : "same") + "\n";
        if (c.hash_changed) {
            s += bang + "\n";
            s += "!!! WARNING: QUALITY HASH CHANGED (" + c.first_hash + " -> " + c.hash + "): the greedy output of [" +
                 std::to_string(i + 2) + "] differs from [1]; its speed is not comparable until the change is explained\n";
            s += bang + "\n";
        }
    }
    return s;
}

}  // namespace spool::bench
