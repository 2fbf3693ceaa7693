// Sweep prompts: built-in ones and the two file formats.
#include "bench/prompts.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "spool/errors.h"

namespace spool::bench {

std::vector<Prompt> builtin_prompts() {
    return {
        {"short", "The capital of France is"},
        {"medium", "Write a short story about a lighthouse keeper who finds a message in a bottle. It begins:"},
        {"long",
         "You are a helpful assistant. Summarize the following paragraph in two sentences.\n\n"
         "The printing press, developed in the fifteenth century, changed how knowledge moved through Europe. "
         "Books that had been copied by hand over months could be produced in days, and their prices fell. "
         "Literacy spread beyond monasteries and courts, scientists could share exact copies of their results, "
         "and new ideas travelled faster than any authority could contain them.\n\nSummary:"},
    };
}

std::vector<Prompt> parse_prompts(const std::string& text, bool json, const std::string& name) {
    std::vector<Prompt> prompts;
    if (json) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(text);
        } catch (const nlohmann::json::exception& e) {
            throw FormatError(name, 0, "prompts", std::string("invalid JSON: ") + e.what());
        }
        if (!j.is_array()) throw FormatError(name, 0, "prompts", "expected a JSON array of strings or {\"id\", \"text\"}");
        for (size_t i = 0; i < j.size(); ++i) {
            const auto& e = j[i];
            if (e.is_string()) {
                prompts.push_back({"p" + std::to_string(i + 1), e.get<std::string>()});
            } else if (e.is_object() && e.contains("text") && e["text"].is_string()) {
                const std::string id = e.contains("id") && e["id"].is_string() ? e["id"].get<std::string>()
                                                                               : "p" + std::to_string(i + 1);
                prompts.push_back({id, e["text"].get<std::string>()});
            } else {
                throw FormatError(name, 0, "prompts[" + std::to_string(i) + "]",
                                  "expected a string or an object with a \"text\" string");
            }
        }
    } else {
        std::istringstream in(text);
        std::string line;
        while (std::getline(in, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty() || line[0] == '#') continue;
            prompts.push_back({"p" + std::to_string(prompts.size() + 1), line});
        }
    }
    if (prompts.empty()) throw UsageError(name + " holds no prompts");
    for (const Prompt& p : prompts) {
        if (p.text.empty()) throw UsageError(name + ": prompt " + p.id + " is empty");
    }
    return prompts;
}

std::vector<Prompt> load_prompts(const std::string& spec) {
    if (spec == "builtin") return builtin_prompts();
    std::ifstream in(spec, std::ios::binary);
    if (!in) throw SystemError("cannot read the prompts file " + spec + " (use --prompts builtin for the built-in set)");
    std::stringstream ss;
    ss << in.rdbuf();
    const bool json = std::filesystem::path(spec).extension() == ".json";
    return parse_prompts(ss.str(), json, spec);
}

}  // namespace spool::bench
