// Chat templates: turn a conversation into the prompt text a model was trained on. Renders Hugging Face chat
// templates (tokenizer.chat_template in GGUF metadata, Jinja syntax) with spool's own Jinja interpreter, using the
// variables transformers' apply_chat_template passes (messages, tools, documents, add_generation_prompt,
// bos_token, eos_token, plus extras such as enable_thinking), and offers builtin templates for common formats.
#pragma once

#include "tokenizer/jinja/template.h"

#include <nlohmann/json.hpp>

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spool {

// One conversation turn, as an OpenAI-style message. The template sees a dict with the keys role and content,
// then reasoning_content, tool_calls, tool_call_id and name where set, then the `extra` keys in order.
struct ChatMessage {
    ChatMessage() = default;
    ChatMessage(std::string role_, std::string content_) : role(std::move(role_)), content(std::move(content_)) {}

    std::string role;     // "system", "user", "assistant", "tool", ...
    std::string content;
    bool content_is_null = false;  // content is None (an assistant turn that only calls tools)
    std::optional<std::string> reasoning_content;        // the thinking text of an assistant turn (Qwen3, DeepSeek)
    std::optional<nlohmann::ordered_json> tool_calls;    // [{"type": "function", "id": ..., "function": {"name",
                                                         //   "arguments"}}]; arguments an object or a JSON string
    std::optional<std::string> tool_call_id;             // for role "tool": which call this answers
    std::optional<std::string> name;
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // further keys, passed through unchanged

    // From an OpenAI-style message object. Throws UsageError when role is missing or content is not a string/null.
    static ChatMessage from_json(const nlohmann::ordered_json& message);
    nlohmann::ordered_json to_json() const;
};

struct ChatOptions {
    std::string bos_token;  // the model's BOS/EOS text, e.g. "<s>" and "</s>"; templates print them
    std::string eos_token;
    std::optional<nlohmann::ordered_json> tools;      // list of tool schemas; None when unset (as transformers does)
    std::optional<nlohmann::ordered_json> documents;  // RAG documents; None when unset
    std::optional<bool> enable_thinking;              // Qwen3's switch; left undefined when unset
    nlohmann::ordered_json extra_context = nlohmann::ordered_json::object();  // more variables (date_string, ...)
    std::optional<std::tm> now;  // the time strftime_now() sees (tests pin it); unset: the local time
};

struct ChatTemplateChoice;

class ChatTemplate {
public:
    // Parses a Jinja chat template. `origin` names it in errors ("GGUF metadata", a file path).
    // Throws jinja::SyntaxError (a UsageError) with the line and column of the problem.
    static ChatTemplate from_string(std::string source, const std::string& origin = {});

    // A template spool ships for a standard format. Throws UsageError listing builtin_names() for unknown names.
    static ChatTemplate builtin(std::string_view name);
    static std::vector<std::string> builtin_names();  // chatml, llama2, llama3, mistral, gemma, phi3, ...

    // Picks the template to use for a model: `override_name_or_file` (a builtin name, else a file path) wins,
    // then the model's own template (`metadata_template`, empty when the GGUF has none), else chatml with a
    // warning in the result for the caller to show. Throws UsageError when the override is neither a builtin nor a
    // readable file, and jinja::SyntaxError when the chosen template does not parse.
    static ChatTemplateChoice for_model(std::string_view metadata_template, std::string_view override_name_or_file);

    // Renders the conversation. Throws jinja::RaisedError (a UsageError) when the template rejects the
    // conversation through raise_exception (a wrong role order, an unsupported role), jinja::RenderError for
    // other failures (with the template line and column).
    std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                      const ChatOptions& options = {}) const;

    // Lower level: renders with a caller-built context dict (the variables the template sees).
    std::string render(const jinja::Value& context, const ChatOptions& options = {}) const;

    const std::string& source() const noexcept { return source_; }

private:
    ChatTemplate(std::string source, jinja::Template compiled)
        : source_(std::move(source)), compiled_(std::move(compiled)) {}
    std::string source_;
    jinja::Template compiled_;
};

struct ChatTemplateChoice {
    ChatTemplate chat_template;
    std::string origin;   // "builtin 'llama3'", "file 'x.jinja'", "GGUF metadata", "builtin 'chatml' (fallback)"
    std::string warning;  // non-empty when no template was given and chatml was picked; library code never prints
};

// The Jinja value of a message list / of one message, as apply() passes them (for callers building contexts).
jinja::Value chat_messages_value(const std::vector<ChatMessage>& messages);

}  // namespace spool
