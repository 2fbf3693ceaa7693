// ChatTemplate: builds the variables transformers' apply_chat_template passes to a chat template and renders it
// with spool's Jinja interpreter; for_model() picks the override, the model's template, or chatml.
#include "tokenizer/chat_template.h"

#include "spool/errors.h"
#include "tokenizer/chat_template_builtins.h"
#include "tokenizer/jinja/errors.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace spool {

ChatMessage ChatMessage::from_json(const nlohmann::ordered_json& m) {
    if (!m.is_object()) throw UsageError("a chat message must be a JSON object, got " + std::string(m.type_name()));
    const auto role = m.find("role");
    if (role == m.end() || !role->is_string())
        throw UsageError("a chat message needs a string \"role\" (for example \"user\"), got " + m.dump());
    ChatMessage out;
    out.role = role->get<std::string>();
    for (const auto& [key, value] : m.items()) {
        if (key == "role") continue;
        if (key == "content") {
            if (value.is_null()) out.content_is_null = true;
            else if (value.is_string()) out.content = value.get<std::string>();
            else throw UsageError("chat message \"content\" must be a string or null, got " + value.dump());
        } else if (key == "reasoning_content" && value.is_string()) {
            out.reasoning_content = value.get<std::string>();
        } else if (key == "tool_calls" && !value.is_null()) {
            out.tool_calls = value;
        } else if (key == "tool_call_id" && value.is_string()) {
            out.tool_call_id = value.get<std::string>();
        } else if (key == "name" && value.is_string()) {
            out.name = value.get<std::string>();
        } else {
            out.extra[key] = value;
        }
    }
    return out;
}

nlohmann::ordered_json ChatMessage::to_json() const {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j["role"] = role;
    j["content"] = content_is_null ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(content);
    if (reasoning_content) j["reasoning_content"] = *reasoning_content;
    if (tool_calls) j["tool_calls"] = *tool_calls;
    if (tool_call_id) j["tool_call_id"] = *tool_call_id;
    if (name) j["name"] = *name;
    for (const auto& [key, value] : extra.items()) j[key] = value;
    return j;
}

jinja::Value chat_messages_value(const std::vector<ChatMessage>& messages) {
    std::vector<jinja::Value> items;
    items.reserve(messages.size());
    for (const ChatMessage& m : messages) items.push_back(jinja::from_json(m.to_json()));
    return jinja::Value::array(std::move(items));
}

namespace {

std::string joined_builtin_names() {
    std::string names;
    for (const std::string& n : builtin_chat_template_names()) names += (names.empty() ? "" : ", ") + n;
    return names;
}

}  // namespace

ChatTemplate ChatTemplate::from_string(std::string source, const std::string& origin) {
    try {
        jinja::Template compiled = jinja::Template::parse(source);
        return ChatTemplate(std::move(source), std::move(compiled));
    } catch (const jinja::SyntaxError& e) {
        if (origin.empty()) throw;
        throw jinja::SyntaxError(e.line(), e.column(), e.problem(), origin);
    }
}

ChatTemplate ChatTemplate::builtin(std::string_view name) {
    const std::optional<std::string_view> source = builtin_chat_template_source(name);
    if (!source)
        throw UsageError("unknown builtin chat template '" + std::string(name) + "'; the builtins are: " +
                         joined_builtin_names());
    return from_string(std::string(*source), "builtin template '" + std::string(name) + "'");
}

std::vector<std::string> ChatTemplate::builtin_names() { return builtin_chat_template_names(); }

ChatTemplateChoice ChatTemplate::for_model(std::string_view metadata_template, std::string_view override_name_or_file) {
    if (!override_name_or_file.empty()) {
        const std::string spec(override_name_or_file);
        if (builtin_chat_template_source(spec)) return {builtin(spec), "builtin '" + spec + "'", {}};
        std::error_code ec;
        if (!std::filesystem::is_regular_file(spec, ec))
            throw UsageError("chat template '" + spec + "' is neither a builtin template (" + joined_builtin_names() +
                             ") nor a readable file");
        std::ifstream in(spec, std::ios::binary);
        if (!in) throw SystemError("cannot open chat template file '" + spec + "': " + std::strerror(errno));
        std::ostringstream text;
        text << in.rdbuf();
        if (in.bad()) throw SystemError("cannot read chat template file '" + spec + "': " + std::strerror(errno));
        return {from_string(text.str(), "file '" + spec + "'"), "file '" + spec + "'", {}};
    }
    if (!metadata_template.empty())
        return {from_string(std::string(metadata_template), "the model's tokenizer.chat_template"), "GGUF metadata", {}};
    return {builtin("chatml"), "builtin 'chatml' (fallback)",
            "the model has no tokenizer.chat_template; using the chatml format, which may not match its training. "
            "Choose one with --chat-template NAME or FILE (builtins: " + joined_builtin_names() + ")"};
}

std::string ChatTemplate::apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                const ChatOptions& options) const {
    // The same variables, in the same order, as transformers' render_jinja_template: messages, tools, documents,
    // add_generation_prompt, then the special tokens and any extra keyword arguments.
    jinja::Value context = jinja::Value::object();
    jinja::Object& vars = context.mutable_object();
    vars.set("messages", chat_messages_value(messages));
    vars.set("tools", options.tools ? jinja::from_json(*options.tools) : jinja::Value::none());
    vars.set("documents", options.documents ? jinja::from_json(*options.documents) : jinja::Value::none());
    vars.set("add_generation_prompt", add_generation_prompt);
    vars.set("bos_token", options.bos_token);
    vars.set("eos_token", options.eos_token);
    if (options.enable_thinking) vars.set("enable_thinking", *options.enable_thinking);
    for (const auto& [key, value] : options.extra_context.items()) vars.set(key, jinja::from_json(value));
    return render(context, options);
}

std::string ChatTemplate::render(const jinja::Value& context, const ChatOptions& options) const {
    jinja::RenderOptions render_options;
    render_options.now = options.now;
    return compiled_.render(context, render_options);
}

}  // namespace spool
