// The three clean-up passes, each reading the previous pass's output as llama.cpp does in place.
#include "tokenizer/clean_spaces.h"

namespace spool::tokenizer {

namespace {

// Pass 1: drop the space before ? ! . ,
std::string drop_space_before_punct(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        const char x = s[i];
        if (i > 0 && s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) out.pop_back();
        out.push_back(x);
    }
    return out;
}

// Pass 2: " ' " becomes "'". The space after is skipped, and the skipped byte then reads as no space
// for the next position (llama.cpp overwrites it with NUL), so " ' ' " gives "' ".
std::string drop_spaces_around_apostrophe(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t skipped = std::string_view::npos;
    for (size_t i = 0; i < s.size(); ++i) {
        const char x = s[i];
        const char prev = i == 0 ? '\0' : (i - 1 == skipped ? '\0' : s[i - 1]);
        if (i > 0 && x == '\'' && i + 1 < s.size() && prev == ' ' && s[i + 1] == ' ') {
            out.pop_back();
            out.push_back(x);
            skipped = ++i;
            continue;
        }
        out.push_back(x);
    }
    return out;
}

// Pass 3: " 's" " 'm" " 're" " 've" lose the space (" 't" " 'd" " 'll" keep it).
std::string drop_space_before_contraction(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        const char x = s[i];
        if (i > 0 && x == '\'' && s[i - 1] == ' ' && i + 1 < s.size()) {
            const char x1 = s[i + 1];
            const bool two = i + 2 < s.size();
            if (x1 == 's' || x1 == 'm' || (two && ((x1 == 'r' && s[i + 2] == 'e') || (x1 == 'v' && s[i + 2] == 'e')))) {
                out.pop_back();
            }
        }
        out.push_back(x);
    }
    return out;
}

}  // namespace

std::string clean_spaces(std::string_view text) {
    return drop_space_before_contraction(drop_spaces_around_apostrophe(drop_space_before_punct(text)));
}

size_t clean_spaces_stable_prefix(std::string_view text) {
    constexpr size_t kReach = 6;
    size_t last_apostrophe_end = 0;  // one past the last apostrophe seen
    size_t best = 0;
    for (size_t c = 1; c <= text.size(); ++c) {
        if (text[c - 1] == '\'') last_apostrophe_end = c;
        const bool apostrophe_near = last_apostrophe_end != 0 && c - last_apostrophe_end < kReach;
        if (text[c - 1] != ' ' && text[c - 1] != '\'' && !apostrophe_near) best = c;
    }
    return best;
}

}  // namespace spool::tokenizer
