// Chat templates against Python jinja2 configured as Hugging Face renders them: the published templates of Llama
// 2/3/3.1/3.2, Mistral, Qwen2.5/3, Gemma 2/3, Phi-3, Zephyr, SmolLM2, DeepSeek, Hermes 3 and others on fixed
// conversations, and small snippets that each probe one Jinja rule. Fixtures: scripts/make_chat_template_fixtures.py.
#include "tokenizer/chat_template.h"
#include "tokenizer/jinja/errors.h"
#include "tokenizer/jinja/template.h"

#include "test_support.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace spool {
namespace {

using nlohmann::ordered_json;

std::filesystem::path templates_dir() { return testing::source_dir() / "tests" / "tokenizer" / "templates"; }

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open fixture " + path.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

ordered_json read_json(const std::string& name) { return ordered_json::parse(read_file(templates_dir() / name)); }

// The time the fixtures were rendered with (conversations.json "now": 2025-02-20T10:30:00).
std::tm fixed_now() {
    std::tm tm{};
    tm.tm_year = 2025 - 1900;
    tm.tm_mon = 1;
    tm.tm_mday = 20;
    tm.tm_hour = 10;
    tm.tm_min = 30;
    const std::time_t t = timegm(&tm);  // fills tm_wday and tm_yday
    gmtime_r(&t, &tm);
    return tm;
}

std::vector<ChatMessage> messages_of(const ordered_json& conversation) {
    std::vector<ChatMessage> out;
    for (const auto& m : conversation) out.push_back(ChatMessage::from_json(m));
    return out;
}

// Where two renderings first differ, with some context, for a readable failure.
std::string first_difference(const std::string& expected, const std::string& actual) {
    size_t i = 0;
    while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
    const size_t from = i > 40 ? i - 40 : 0;
    return "first difference at byte " + std::to_string(i) + " (expected " + std::to_string(expected.size()) +
           " bytes, got " + std::to_string(actual.size()) + ")\n  expected: ..." +
           ordered_json(expected.substr(from, 100)).dump() + "\n  actual:   ..." + ordered_json(actual.substr(from, 100)).dump();
}

ChatOptions options_for(const ordered_json& c, const ordered_json& fixtures) {
    ChatOptions o;
    o.bos_token = c["bos_token"].get<std::string>();
    o.eos_token = c["eos_token"].get<std::string>();
    if (c["tools"].get<bool>()) o.tools = fixtures["tools"];
    if (c.contains("enable_thinking")) o.enable_thinking = c["enable_thinking"].get<bool>();
    o.now = fixed_now();
    return o;
}

TEST(ChatTemplate, PublishedTemplatesMatchJinja2) {
    const ordered_json fixtures = read_json("conversations.json");
    const ordered_json cases = read_json("cases.json");
    ASSERT_GE(cases.size(), 170u) << "cases.json looks truncated; rerun scripts/make_chat_template_fixtures.py";
    size_t rendered = 0, raised = 0;
    for (const auto& c : cases) {
        const std::string name = c["template"].get<std::string>() + "." + c["case"].get<std::string>();
        SCOPED_TRACE(name);
        const ChatTemplate tmpl = ChatTemplate::from_string(read_file(templates_dir() / (c["template"].get<std::string>() + ".jinja")));
        const auto messages = messages_of(fixtures["conversations"][c["conversation"].get<std::string>()]);
        const ChatOptions options = options_for(c, fixtures);
        const bool gen = c["add_generation_prompt"].get<bool>();
        if (c.contains("error")) {
            // "raised: M": the template called raise_exception(M); "error: ...": jinja2 failed on a type error.
            const std::string error = c["error"].get<std::string>();
            const bool by_template = error.rfind("raised: ", 0) == 0;
            ASSERT_TRUE(by_template || error.rfind("error: ", 0) == 0) << "unexpected fixture error: " << error;
            try {
                const std::string out = tmpl.apply(messages, gen, options);
                ADD_FAILURE() << name << ": expected '" << error << "', but it rendered " << ordered_json(out).dump();
            } catch (const jinja::RaisedError& e) {
                EXPECT_TRUE(by_template) << "spool: " << e.what() << "\njinja2: " << error;
                EXPECT_EQ(e.template_message(), error.substr(8));
                ++raised;
            } catch (const jinja::RenderError& e) {
                EXPECT_FALSE(by_template) << "spool: " << e.what() << "\njinja2: " << error;
                ++raised;
            }
            continue;
        }
        const std::string expected = read_file(templates_dir() / c["expected"].get<std::string>());
        std::string actual;
        try {
            actual = tmpl.apply(messages, gen, options);
        } catch (const Error& e) {
            ADD_FAILURE() << name << ": threw " << e.what();
            continue;
        }
        EXPECT_EQ(actual, expected) << name << ": " << first_difference(expected, actual);
        rendered += actual == expected;
    }
    std::cout << "[ chat templates ] " << rendered << " renderings byte-identical to jinja2, " << raised
              << " failed as in jinja2, of " << cases.size() << " cases\n";
}

TEST(ChatTemplate, SnippetsMatchJinja2) {
    const ordered_json snippets = read_json("snippets.json");
    ASSERT_GE(snippets.size(), 100u);
    jinja::RenderOptions options;
    options.now = fixed_now();
    size_t matched = 0;
    for (const auto& s : snippets) {
        const std::string source = s["template"].get<std::string>();
        SCOPED_TRACE(ordered_json(source).dump());
        const jinja::Value context = jinja::from_json(s["context"]);
        if (s.contains("error")) {
            const std::string error = s["error"].get<std::string>();
            try {
                const std::string out = jinja::Template::parse(source).render(context, options);
                ADD_FAILURE() << "jinja2 fails with '" << error << "' but spool rendered " << ordered_json(out).dump();
            } catch (const jinja::SyntaxError& e) {
                EXPECT_EQ(error.rfind("syntax: ", 0) == 0 || error.find("SyntaxError") != std::string::npos, true)
                    << "spool: " << e.what() << "\njinja2: " << error;
                ++matched;
            } catch (const jinja::RaisedError& e) {
                EXPECT_EQ(error, "raised: " + e.template_message());
                ++matched;
            } catch (const jinja::RenderError& e) {
                EXPECT_EQ(error.rfind("error: ", 0) == 0 || error.rfind("syntax: No filter", 0) == 0, true)
                    << "spool: " << e.what() << "\njinja2: " << error;
                ++matched;
            }
            continue;
        }
        std::string actual;
        try {
            actual = jinja::Template::parse(source).render(context, options);
        } catch (const Error& e) {
            ADD_FAILURE() << "threw " << e.what();
            continue;
        }
        const std::string expected = s["expected"].get<std::string>();
        EXPECT_EQ(actual, expected) << first_difference(expected, actual);
        matched += actual == expected;
    }
    std::cout << "[ jinja snippets ] " << matched << " of " << snippets.size() << " behave as in jinja2\n";
}

// Each builtin must print its family's published format: the same bytes as the model's own template.
TEST(ChatTemplate, BuiltinsMatchPublishedTemplates) {
    const ordered_json fixtures = read_json("conversations.json");
    const ordered_json cases = read_json("cases.json");
    struct Pair {
        const char* builtin;
        const char* real;
        std::vector<std::string> cases;
    };
    const std::vector<Pair> pairs = {
        {"chatml", "chatml", {"chat.gen", "chat.nogen", "chat_nosys.gen", "chat_nosys.nogen"}},
        {"llama2", "llama2", {"chat.gen", "chat.nogen", "chat_nosys.gen", "chat_nosys.nogen"}},
        {"llama3", "llama3", {"chat.gen", "chat.nogen", "chat_nosys.gen", "chat_nosys.nogen"}},
        {"mistral", "mistral_v02", {"chat_nosys.gen", "chat_nosys.nogen"}},
        {"gemma", "gemma3", {"chat.gen", "chat.nogen", "chat_nosys.gen", "chat_nosys.nogen"}},
        {"gemma", "gemma2", {"chat_nosys.gen", "chat_nosys.nogen"}},
        {"phi3", "phi3_5", {"chat.gen", "chat.nogen", "chat_nosys.gen", "chat_nosys.nogen"}},
        {"zephyr", "zephyr", {"chat.gen", "chat.nogen", "chat_nosys.gen", "chat_nosys.nogen"}},
        {"deepseek", "deepseek_v2", {"chat.gen", "chat.nogen", "chat_nosys.gen", "chat_nosys.nogen"}},
        {"deepseek3", "deepseek_r1", {"chat.nogen", "chat_nosys.nogen"}},
        {"smollm2", "smollm2", {"chat.gen", "chat.nogen", "chat_nosys.gen", "chat_nosys.nogen"}},
        {"qwen2", "qwen2_5", {"chat.gen", "chat.nogen", "chat_nosys.gen", "chat_nosys.nogen"}},
    };
    size_t checked = 0;
    for (const Pair& p : pairs) {
        const ChatTemplate builtin = ChatTemplate::builtin(p.builtin);
        for (const std::string& case_name : p.cases) {
            SCOPED_TRACE(std::string(p.builtin) + " vs " + p.real + "." + case_name);
            const ordered_json* entry = nullptr;
            for (const auto& c : cases)
                if (c["template"] == p.real && c["case"] == case_name) entry = &c;
            ASSERT_NE(entry, nullptr);
            ASSERT_TRUE(entry->contains("expected"));
            const std::string expected = read_file(templates_dir() / (*entry)["expected"].get<std::string>());
            const std::string actual =
                builtin.apply(messages_of(fixtures["conversations"][(*entry)["conversation"].get<std::string>()]),
                              (*entry)["add_generation_prompt"].get<bool>(), options_for(*entry, fixtures));
            EXPECT_EQ(actual, expected) << first_difference(expected, actual);
            ++checked;
        }
    }
    EXPECT_EQ(checked, 42u);
    EXPECT_EQ(ChatTemplate::builtin_names().size(), 11u);
}

TEST(ChatTemplate, BuiltinsAllRenderEveryConversationShape) {
    ChatOptions o;
    o.bos_token = "<s>";
    o.eos_token = "</s>";
    const std::vector<ChatMessage> chat = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}};
    for (const std::string& name : ChatTemplate::builtin_names()) {
        SCOPED_TRACE(name);
        const ChatTemplate t = ChatTemplate::builtin(name);
        const std::string text = t.apply(chat, true, o);
        EXPECT_NE(text.find("Be brief."), std::string::npos) << text;
        EXPECT_NE(text.find("Bye"), std::string::npos) << text;
        EXPECT_NO_THROW(t.apply({}, true, o));
    }
}

TEST(ChatTemplate, WrongRoleOrderGivesTheTemplatesMessage) {
    const std::vector<ChatMessage> bad = {{"user", "a"}, {"user", "b"}};
    for (const char* name : {"llama2", "mistral", "gemma"}) {
        try {
            ChatTemplate::builtin(name).apply(bad, true);
            ADD_FAILURE() << name << " accepted two user turns in a row";
        } catch (const jinja::RaisedError& e) {
            EXPECT_NE(std::string(e.what()).find("rejected the conversation"), std::string::npos) << e.what();
            EXPECT_NE(e.template_message().find("alternate"), std::string::npos) << e.what();
        }
    }
    const ChatTemplate llama2 = ChatTemplate::from_string(read_file(templates_dir() / "llama2.jinja"));
    EXPECT_THROW(llama2.apply(bad, false), UsageError);
}

TEST(ChatTemplate, SyntaxErrorsNameLineAndColumn) {
    try {
        ChatTemplate::from_string("Hello\n{% if x %}\n  {{ y }\n{% endif %}", "test.jinja");
        FAIL() << "no error";
    } catch (const jinja::SyntaxError& e) {
        EXPECT_EQ(e.line(), 3);
        EXPECT_EQ(e.column(), 8);
        EXPECT_NE(std::string(e.what()).find("test.jinja"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("line 3, column 8"), std::string::npos) << e.what();
    }
    try {
        ChatTemplate::from_string("{% for m in messages %}\n{{ m }}\n");
        FAIL() << "no error";
    } catch (const jinja::SyntaxError& e) {
        EXPECT_EQ(e.line(), 1);  // the unclosed tag
        EXPECT_NE(std::string(e.what()).find("endfor"), std::string::npos) << e.what();
    }
    // Features spool leaves out fail clearly at parse time rather than rendering something else.
    EXPECT_THROW(ChatTemplate::from_string("{% extends 'base' %}"), jinja::SyntaxError);
    EXPECT_THROW(ChatTemplate::from_string("{% for i in x recursive %}{% endfor %}"), jinja::SyntaxError);
    EXPECT_THROW(ChatTemplate::from_string("{{ 'open"), UsageError);
    // Hostile nesting is refused instead of exhausting the stack.
    EXPECT_THROW(ChatTemplate::from_string("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}"),
                 jinja::SyntaxError);
    std::string deep;
    for (int i = 0; i < 1000; ++i) deep += "{% if true %}";
    EXPECT_THROW(ChatTemplate::from_string(deep), jinja::SyntaxError);
}

TEST(ChatTemplate, RenderErrorsNameLineAndColumn) {
    const ChatTemplate t = ChatTemplate::from_string("ok\n{{ messages[0].content + 1 }}");
    try {
        t.apply({{"user", "x"}}, false);
        FAIL() << "no error";
    } catch (const jinja::RenderError& e) {
        EXPECT_EQ(e.line(), 2);
        EXPECT_NE(std::string(e.what()).find("can only concatenate str"), std::string::npos) << e.what();
    }
    const ChatTemplate u = ChatTemplate::from_string("{{ nothing.attr }}");
    EXPECT_THROW(u.apply({}, false), jinja::RenderError);
}

TEST(ChatTemplate, UndefinedVariablesAreEmptyAndFalse) {
    const ChatTemplate t = ChatTemplate::from_string("[{{ nope }}]{% if nope %}yes{% else %}no{% endif %}{{ nope|length }}");
    EXPECT_EQ(t.apply({}, false), "[]no0");
}

TEST(ChatTemplate, ForModelPrefersOverrideThenMetadataThenChatml) {
    const std::string metadata = "{{ 'from metadata' }}";
    auto choice = ChatTemplate::for_model(metadata, "");
    EXPECT_EQ(choice.origin, "GGUF metadata");
    EXPECT_TRUE(choice.warning.empty());
    EXPECT_EQ(choice.chat_template.apply({}, false), "from metadata");

    choice = ChatTemplate::for_model(metadata, "llama3");
    EXPECT_EQ(choice.origin, "builtin 'llama3'");
    EXPECT_NE(choice.chat_template.apply({{"user", "hi"}}, true).find("<|start_header_id|>user"), std::string::npos);

    const std::filesystem::path file = std::filesystem::temp_directory_path() / "spool_chat_template_test.jinja";
    std::ofstream(file) << "{{ 'from file' }}";
    choice = ChatTemplate::for_model(metadata, file.string());
    EXPECT_EQ(choice.chat_template.apply({}, false), "from file");
    std::filesystem::remove(file);

    choice = ChatTemplate::for_model("", "");
    EXPECT_FALSE(choice.warning.empty());
    EXPECT_EQ(choice.chat_template.apply({{"user", "hi"}}, true), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");

    try {
        ChatTemplate::for_model(metadata, "no-such-template-or-file");
        FAIL() << "no error";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("neither a builtin"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("chatml"), std::string::npos) << e.what();
    }
    EXPECT_THROW(ChatTemplate::builtin("nope"), UsageError);
}

TEST(ChatTemplate, MessagesRoundTripThroughJson) {
    const ordered_json j = ordered_json::parse(
        R"({"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":{"b":1,"a":2}}}],"custom":7})");
    const ChatMessage m = ChatMessage::from_json(j);
    EXPECT_TRUE(m.content_is_null);
    ASSERT_TRUE(m.tool_calls.has_value());
    EXPECT_EQ(m.extra["custom"], 7);
    EXPECT_EQ(m.to_json().dump(), j.dump());
    EXPECT_THROW(ChatMessage::from_json(ordered_json::parse(R"({"content":"x"})")), UsageError);
    // Key order of tool arguments survives into tojson, as with Python dicts.
    const ChatTemplate t = ChatTemplate::from_string("{{ messages[0].tool_calls[0].function.arguments|tojson }}");
    EXPECT_EQ(t.apply({m}, false), R"({"b": 1, "a": 2})");
}

TEST(ChatTemplate, StrftimeNowUsesTheInjectedTime) {
    const ChatTemplate t = ChatTemplate::from_string("{{ strftime_now('%Y-%m-%d %A') }}");
    ChatOptions o;
    o.now = fixed_now();
    EXPECT_EQ(t.apply({}, false, o), "2025-02-20 Thursday");
    const std::string today = t.apply({}, false);  // the local time: only its shape is known
    EXPECT_EQ(today.substr(0, 2), "20");
    EXPECT_EQ(today[4], '-');
}

}  // namespace
}  // namespace spool
