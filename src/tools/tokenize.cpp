// `spool tokenize -m MODEL (-p TEXT | -f FILE) [--ids | --pieces] [--no-bos] [--parse-special] [--json]`:
// prints the token ids of a text, like llama.cpp's llama-tokenize. Needs only the tokenizer.* metadata, so a
// vocabulary-only GGUF works.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <string>

#include "gguf/file.h"
#include "spool/errors.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "tools/commands.h"
#include "tools/generation_flags.h"

namespace spool::tools {
namespace {

struct TokenizeOptions {
    std::string model;
    std::string prompt;
    std::string file;
    bool ids = false;
    bool pieces = false;
    bool no_bos = false;
    bool parse_special = false;
    bool json = false;
};

// A piece as a double-quoted literal that Python and (for valid UTF-8) JSON both read back: quotes,
// backslashes and control bytes escaped, ill-formed UTF-8 bytes as \xNN.
std::string quote_piece(std::string_view piece) {
    std::string out = "\"";
    char buf[8];
    for (size_t pos = 0; pos < piece.size();) {
        const tokenizer::utf8::Sequence seq = tokenizer::utf8::examine(piece, pos);
        if (seq.check != tokenizer::utf8::Check::Valid) {
            for (size_t k = 0; k < seq.length; ++k) {
                std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<uint8_t>(piece[pos + k]));
                out += buf;
            }
        } else if (seq.codepoint == '"' || seq.codepoint == '\\') {
            out += '\\';
            out += static_cast<char>(seq.codepoint);
        } else if (seq.codepoint == '\n') {
            out += "\\n";
        } else if (seq.codepoint == '\t') {
            out += "\\t";
        } else if (seq.codepoint == '\r') {
            out += "\\r";
        } else if (seq.codepoint < 0x20 || seq.codepoint == 0x7F) {
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(seq.codepoint));
            out += buf;
        } else {
            out.append(piece.substr(pos, seq.length));
        }
        pos += seq.length;
    }
    return out + "\"";
}

// llama-tokenize's line: "%6d -> '%s'"; a piece that is not valid UTF-8 (a byte token) is shown escaped.
std::string token_line(int32_t id, const std::string& piece) {
    char head[32];
    std::snprintf(head, sizeof head, "%6d -> '", id);
    if (tokenizer::utf8::is_valid(piece)) return head + piece + "'\n";
    std::string q = quote_piece(piece);
    return head + q.substr(1, q.size() - 2) + "'\n";
}

void run_tokenize(const TokenizeOptions& opt) {
    if (opt.model.empty()) throw UsageError("tokenize needs a model: -m MODEL.gguf (a vocabulary-only GGUF is enough)");
    const bool has_prompt = !opt.prompt.empty(), has_file = !opt.file.empty();
    if (has_prompt && has_file) throw UsageError("tokenize takes the text from -p or from -f, not both");
    if (!has_prompt && !has_file) throw UsageError("tokenize needs a text: -p TEXT or -f FILE");
    if (opt.ids && opt.pieces) throw UsageError("--ids and --pieces exclude each other");
    if (!std::filesystem::exists(opt.model)) throw UsageError("model file '" + opt.model + "' does not exist");

    const std::string text = has_file ? read_prompt_file(opt.file) : opt.prompt;
    const gguf::GgufFile file = gguf::GgufFile::open(opt.model);
    const tokenizer::Tokenizer tok(file);
    const std::vector<int32_t> ids = tok.encode(text, !opt.no_bos, opt.parse_special);

    std::string out;
    if (opt.json) {
        nlohmann::ordered_json j;
        j["ids"] = ids;
        nlohmann::ordered_json pieces = nlohmann::ordered_json::array();
        for (int32_t id : ids) pieces.push_back(tok.token_to_piece(id));
        j["pieces"] = std::move(pieces);
        // Byte tokens are not valid UTF-8 on their own; JSON shows them as U+FFFD.
        out = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    } else if (opt.ids || opt.pieces) {
        out = "[";
        for (size_t i = 0; i < ids.size(); ++i) {
            if (i) out += ", ";
            out += opt.ids ? std::to_string(ids[i]) : quote_piece(tok.token_to_piece(ids[i]));
        }
        out += "]\n";
    } else {
        for (int32_t id : ids) out += token_line(id, tok.token_to_piece(id));
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void register_tokenize(CLI::App& app) {
    auto opt = std::make_shared<TokenizeOptions>();
    CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of a text (like llama-tokenize); a vocabulary-only GGUF is enough");
    cmd->add_option("-m,--model", opt->model, "GGUF model or vocabulary file");
    cmd->add_option("-p,--prompt", opt->prompt, "Text to tokenize");
    cmd->add_option("-f,--file", opt->file, "File whose bytes are tokenized exactly (no newline added or removed)");
    cmd->add_flag("--ids", opt->ids, "Print only the ids, as a Python list: [1, 2, 3]");
    cmd->add_flag("--pieces", opt->pieces, "Print only the pieces, as a list of quoted strings");
    cmd->add_flag("--no-bos", opt->no_bos, "Add no BOS/EOS even where the vocabulary asks for them");
    cmd->add_flag("--parse-special", opt->parse_special, "Match control-token texts such as <s> as those tokens");
    cmd->add_flag("--json", opt->json, "Print {\"ids\": [...], \"pieces\": [...]}");
    cmd->callback([opt] { run_tokenize(*opt); });
}

}  // namespace spool::tools
