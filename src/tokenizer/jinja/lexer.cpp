// Jinja lexer with Hugging Face's whitespace settings (trim_blocks, lstrip_blocks, no trailing newline kept).
// Follows the rules of jinja2/lexer.py: `{%-` strips all whitespace before a tag, `-%}` all after; lstrip_blocks
// removes spaces before a block or comment tag that starts a line; trim_blocks drops one newline after one.
#include "tokenizer/jinja/lexer.h"

#include "tokenizer/jinja/errors.h"
#include "tokenizer/jinja/text.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace spool::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Python's str.isspace over UTF-8 text; used for lstrip_blocks, which must see only whitespace before the tag.
bool all_space(std::string_view s) {
    for (char32_t c : utf8_to_u32(s))
        if (!is_py_space(c)) return false;
    return true;
}

class Lexer {
public:
    explicit Lexer(std::string_view source) {
        // Jinja normalizes \r\n and \r to \n and drops one trailing newline (keep_trailing_newline=False).
        src_.reserve(source.size());
        for (size_t i = 0; i < source.size(); ++i) {
            if (source[i] == '\r') {
                src_ += '\n';
                if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
            } else {
                src_ += source[i];
            }
        }
        if (!src_.empty() && src_.back() == '\n') src_.pop_back();
        line_starts_.push_back(0);
        for (size_t i = 0; i < src_.size(); ++i)
            if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }

    std::vector<Token> run() {
        size_t pos = 0;
        bool line_starting = true;
        while (pos < src_.size()) {
            const size_t open = find_opener(pos);
            if (open == std::string::npos) {
                emit_text(src_.substr(pos), pos);
                break;
            }
            const char kind = src_[open + 1];
            const char sign = open + 2 < src_.size() && (src_[open + 2] == '-' || src_[open + 2] == '+') ? src_[open + 2] : 0;
            std::string text = src_.substr(pos, open - pos);
            strip_before_tag(text, sign, kind != '{', line_starting);
            emit_text(std::move(text), pos);
            size_t p = open + 2 + (sign ? 1 : 0);
            if (kind == '#') {
                pos = skip_comment(open, p, line_starting);
            } else if (kind == '%' && is_raw(p)) {
                pos = lex_raw(open, p, line_starting);
            } else {
                pos = lex_tag(open, p, kind == '{', line_starting);
            }
        }
        tokens_.push_back(make(TokenType::End, "", src_.size()));
        return std::move(tokens_);
    }

private:
    std::string src_;
    std::vector<size_t> line_starts_;
    std::vector<Token> tokens_;

    Token make(TokenType type, std::string text, size_t offset) const {
        Token t{type, std::move(text)};
        const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
        t.line = static_cast<int>(it - line_starts_.begin());
        t.column = static_cast<int>(offset - line_starts_[static_cast<size_t>(t.line - 1)]) + 1;
        return t;
    }

    [[noreturn]] void fail(size_t offset, const std::string& problem) const {
        const Token t = make(TokenType::End, "", offset);
        throw SyntaxError(t.line, t.column, problem);
    }

    // Whitespace control of the text before a tag: `{%-` strips all trailing whitespace; otherwise lstrip_blocks
    // drops the spaces between the line start and a block or comment tag (not a `{{` or a `{%+` tag).
    static void strip_before_tag(std::string& text, char sign, bool block_or_comment, bool line_starting) {
        if (sign == '-') {
            text = py_strip(text, false, true);
        } else if (sign != '+' && block_or_comment) {
            const size_t nl = text.rfind('\n');
            const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
            if ((l_pos > 0 || line_starting) && l_pos < text.size() && all_space(text.substr(l_pos))) text.erase(l_pos);
        }
    }

    void emit_text(std::string text, size_t offset) {
        if (!text.empty()) tokens_.push_back(make(TokenType::Text, std::move(text), offset));
    }

    size_t find_opener(size_t pos) const {
        for (size_t i = src_.find('{', pos); i != std::string::npos; i = src_.find('{', i + 1)) {
            if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
        }
        return std::string::npos;
    }

    // After a tag's closing delimiter at `p` (just past it): `-` strips all following whitespace, a plain block
    // or comment end drops one newline (trim_blocks). Sets line_starting as Jinja does: the match ended in "\n".
    size_t after_close(size_t p, char sign, bool trim_newline, bool& line_starting) const {
        if (sign == '-') {
            const size_t start = p;
            while (p < src_.size() && is_space(src_[p])) ++p;
            line_starting = p > start && src_[p - 1] == '\n';
            return p;
        }
        if (sign != '+' && trim_newline && p < src_.size() && src_[p] == '\n') {
            line_starting = true;
            return p + 1;
        }
        line_starting = false;
        return p;
    }

    size_t skip_comment(size_t open, size_t p, bool& line_starting) const {
        const size_t end = src_.find("#}", p);
        if (end == std::string::npos) fail(open, "comment '{#' is never closed with '#}'");
        const char sign = end > p && (src_[end - 1] == '-' || src_[end - 1] == '+') ? src_[end - 1] : 0;
        return after_close(end + 2, sign, true, line_starting);
    }

    bool is_raw(size_t p) const {
        while (p < src_.size() && is_space(src_[p])) ++p;
        if (src_.compare(p, 3, "raw") != 0) return false;
        p += 3;
        while (p < src_.size() && is_space(src_[p])) ++p;
        if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
        return src_.compare(p, 2, "%}") == 0;
    }

    // {% raw %} ... {% endraw %}: the content is emitted as text, tags inside it are not interpreted.
    size_t lex_raw(size_t open, size_t p, bool& line_starting) {
        const size_t close = src_.find("%}", p);
        const char sign = src_[close - 1] == '-' || src_[close - 1] == '+' ? src_[close - 1] : 0;
        // Jinja's raw-begin tag strips after `-%}` but, unlike other block tags, drops no newline.
        size_t body = after_close(close + 2, sign, false, line_starting);
        for (size_t i = src_.find("{%", body); i != std::string::npos; i = src_.find("{%", i + 1)) {
            size_t q = i + 2;
            const char begin_sign = q < src_.size() && (src_[q] == '-' || src_[q] == '+') ? src_[q] : 0;
            if (begin_sign) ++q;
            while (q < src_.size() && is_space(src_[q])) ++q;
            if (src_.compare(q, 6, "endraw") != 0) continue;
            q += 6;
            while (q < src_.size() && is_space(src_[q])) ++q;
            const char end_sign = q < src_.size() && (src_[q] == '-' || src_[q] == '+') ? src_[q] : 0;
            if (end_sign) ++q;
            if (src_.compare(q, 2, "%}") != 0) continue;
            std::string text = src_.substr(body, i - body);
            strip_before_tag(text, begin_sign, true, line_starting);
            emit_text(std::move(text), body);
            return after_close(q + 2, end_sign, true, line_starting);
        }
        fail(open, "'{% raw %}' is never closed with '{% endraw %}'");
    }

    size_t lex_tag(size_t open, size_t p, bool variable, bool& line_starting) {
        tokens_.push_back(make(variable ? TokenType::VarBegin : TokenType::BlockBegin, variable ? "{{" : "{%", open));
        const char* closer = variable ? "}}" : "%}";
        int depth = 0;  // inside (), [] or {} a closer is an operator, as in Jinja's balancing stack
        while (true) {
            while (p < src_.size() && is_space(src_[p])) ++p;
            if (p >= src_.size())
                fail(open, std::string("tag '") + (variable ? "{{" : "{%") + "' is never closed with '" + closer + "'");
            if (depth == 0) {
                const char sign = (src_[p] == '-' || (src_[p] == '+' && !variable)) ? src_[p] : 0;
                const size_t q = p + (sign ? 1 : 0);
                if (src_.compare(q, 2, closer) == 0) {
                    tokens_.push_back(make(variable ? TokenType::VarEnd : TokenType::BlockEnd, closer, p));
                    return after_close(q + 2, sign, !variable, line_starting);
                }
            }
            p = lex_one(p, depth);
        }
    }

    size_t lex_one(size_t p, int& depth) {
        const char c = src_[p];
        if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            size_t q = p;
            while (q < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[q])) || src_[q] == '_')) ++q;
            tokens_.push_back(make(TokenType::Name, src_.substr(p, q - p), p));
            return q;
        }
        if (std::isdigit(static_cast<unsigned char>(c))) return lex_number(p);
        if (c == '\'' || c == '"') return lex_string(p);
        static const char* const two_char[] = {"//", "**", "==", "!=", "<=", ">="};
        for (const char* op : two_char) {
            if (src_.compare(p, 2, op) == 0) {
                tokens_.push_back(make(TokenType::Operator, op, p));
                return p + 2;
            }
        }
        if (std::string_view("+-*/%~<>=()[]{},.:|;").find(c) != std::string_view::npos) {
            if (c == '(' || c == '[' || c == '{') ++depth;
            if (c == ')' || c == ']' || c == '}') {
                if (depth == 0) fail(p, std::string("unexpected '") + c + "'");
                --depth;
            }
            tokens_.push_back(make(TokenType::Operator, std::string(1, c), p));
            return p + 1;
        }
        fail(p, std::string("unexpected character '") + c + "' inside a tag");
    }

    size_t digits(size_t p, std::string& out) const {
        while (p < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[p])) ||
                                   (src_[p] == '_' && p + 1 < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p + 1]))))) {
            if (src_[p] != '_') out += src_[p];
            ++p;
        }
        return p;
    }

    size_t lex_number(size_t p) {
        std::string text;
        size_t q = digits(p, text);
        bool is_float = false;
        const bool after_dot = p > 0 && src_[p - 1] == '.';  // `items.0.1` is attribute access, not a float
        if (!after_dot && q + 1 < src_.size() && src_[q] == '.' && std::isdigit(static_cast<unsigned char>(src_[q + 1]))) {
            text += '.';
            q = digits(q + 1, text);
            is_float = true;
        }
        if (!after_dot && q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
            size_t r = q + 1;
            std::string exp = "e";
            if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) exp += src_[r++];
            if (r < src_.size() && std::isdigit(static_cast<unsigned char>(src_[r]))) {
                q = digits(r, exp);
                text += exp;
                is_float = true;
            }
        }
        Token t = make(is_float ? TokenType::Float : TokenType::Integer, text, p);
        if (is_float) {
            t.float_value = std::strtod(text.c_str(), nullptr);  // strtod keeps denormals; stod throws
        } else {
            try {
                t.int_value = std::stoll(text);
            } catch (const std::out_of_range&) {
                fail(p, "integer literal " + text + " does not fit in 64 bits");
            }
        }
        tokens_.push_back(std::move(t));
        return q;
    }

    static int hex_value(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    // A quoted string; escapes are decoded as Python's unicode-escape codec does (unknown ones stay verbatim).
    size_t lex_string(size_t p) {
        const char quote = src_[p];
        std::u32string out;
        size_t q = p + 1;
        auto put_utf8 = [&](size_t from, size_t to) {
            const std::u32string u = utf8_to_u32(std::string_view(src_).substr(from, to - from));
            out += u;
        };
        while (true) {
            if (q >= src_.size()) fail(p, "string literal is never closed");
            const char c = src_[q];
            if (c == quote) break;
            if (c != '\\') {
                size_t r = q + 1;
                while (r < src_.size() && src_[r] != quote && src_[r] != '\\') ++r;
                put_utf8(q, r);
                q = r;
                continue;
            }
            if (q + 1 >= src_.size()) fail(p, "string literal is never closed");
            const char e = src_[q + 1];
            q += 2;
            switch (e) {
                case '\n': break;
                case '\\': out += U'\\'; break;
                case '\'': out += U'\''; break;
                case '"': out += U'"'; break;
                case 'a': out += U'\a'; break;
                case 'b': out += U'\b'; break;
                case 'f': out += U'\f'; break;
                case 'n': out += U'\n'; break;
                case 'r': out += U'\r'; break;
                case 't': out += U'\t'; break;
                case 'v': out += U'\v'; break;
                case 'x':
                case 'u':
                case 'U': {
                    const int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    char32_t v = 0;
                    for (int i = 0; i < n; ++i) {
                        const int h = q + i < src_.size() ? hex_value(src_[q + i]) : -1;
                        if (h < 0) fail(q - 2, std::string("truncated \\") + e + " escape in string literal");
                        v = v * 16 + static_cast<char32_t>(h);
                    }
                    if (v > 0x10FFFF) fail(q - 2, "\\U escape above U+10FFFF in string literal");
                    out += v;
                    q += static_cast<size_t>(n);
                    break;
                }
                default:
                    if (e >= '0' && e <= '7') {
                        char32_t v = static_cast<char32_t>(e - '0');
                        for (int i = 0; i < 2 && q < src_.size() && src_[q] >= '0' && src_[q] <= '7'; ++i, ++q)
                            v = v * 8 + static_cast<char32_t>(src_[q] - '0');
                        out += v;
                    } else {
                        out += U'\\';
                        q -= 1;  // the character after the backslash is kept as ordinary text
                    }
            }
        }
        tokens_.push_back(make(TokenType::String, u32_to_utf8(out), p));
        return q + 1;
    }
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace spool::jinja
