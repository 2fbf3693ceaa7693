// Builtin chat templates, written for spool in Jinja. Each produces the published prompt format of its model family
// (the chat_template_test checks them against the models' own templates on the same conversations); they differ
// from those only in being lenient where the originals have no rule (unknown roles, a system turn where the format
// has none, which is folded into the first user turn as the newer templates of the same family do).
#include "tokenizer/chat_template_builtins.h"

#include <array>
#include <utility>

namespace spool {
namespace {

// ChatML (OpenHermes, Qwen, Yi and many fine-tunes).
constexpr std::string_view kChatml = R"jinja(
{%- for message in messages -%}
    {{- '<|im_start|>' ~ message.role ~ '\n' ~ (message.content or '') ~ '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\n' -}}
{%- endif -%}
)jinja";

// ChatML with Qwen2/2.5's default system prompt.
constexpr std::string_view kQwen2 = R"jinja(
{%- if not messages or messages[0].role != 'system' -%}
    {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' -}}
{%- endif -%}
{%- for message in messages -%}
    {{- '<|im_start|>' ~ message.role ~ '\n' ~ (message.content or '') ~ '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\n' -}}
{%- endif -%}
)jinja";

// ChatML with SmolLM2's default system prompt.
constexpr std::string_view kSmollm2 = R"jinja(
{%- for message in messages -%}
    {%- if loop.first and message.role != 'system' -%}
        {{- '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' -}}
    {%- endif -%}
    {{- '<|im_start|>' ~ message.role ~ '\n' ~ (message.content or '') ~ '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|im_start|>assistant\n' -}}
{%- endif -%}
)jinja";

// Llama 2 chat: [INST] turns, the system prompt in <<SYS>> inside the first one, BOS before every user turn.
constexpr std::string_view kLlama2 = R"jinja(
{%- if messages and messages[0].role == 'system' -%}
    {%- set system_text = messages[0].content -%}
    {%- set turns = messages[1:] -%}
{%- else -%}
    {%- set system_text = none -%}
    {%- set turns = messages -%}
{%- endif -%}
{%- for message in turns -%}
    {%- if (message.role == 'user') != (loop.index0 is even) -%}
        {{- raise_exception('the llama2 format needs user and assistant turns to alternate, starting with user (after an optional system message)') -}}
    {%- endif -%}
    {%- set text = message.content -%}
    {%- if loop.first and system_text is not none -%}
        {%- set text = '<<SYS>>\n' ~ system_text ~ '\n<</SYS>>\n\n' ~ text -%}
    {%- endif -%}
    {%- if message.role == 'user' -%}
        {{- bos_token ~ '[INST] ' ~ text | trim ~ ' [/INST]' -}}
    {%- else -%}
        {{- ' ' ~ text | trim ~ ' ' ~ eos_token -}}
    {%- endif -%}
{%- endfor -%}
)jinja";

// Llama 3 instruct: header-delimited turns ending in <|eot_id|>.
constexpr std::string_view kLlama3 = R"jinja(
{%- for message in messages -%}
    {%- if loop.first -%}
        {{- bos_token -}}
    {%- endif -%}
    {{- '<|start_header_id|>' ~ message.role ~ '<|end_header_id|>\n\n' ~ (message.content or '') | trim ~ '<|eot_id|>' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
{%- endif -%}
)jinja";

// Mistral / Mixtral instruct (v0.2 style); a system message is put in front of the first user turn.
constexpr std::string_view kMistral = R"jinja(
{%- if messages and messages[0].role == 'system' -%}
    {%- set system_text = messages[0].content -%}
    {%- set turns = messages[1:] -%}
{%- else -%}
    {%- set system_text = none -%}
    {%- set turns = messages -%}
{%- endif -%}
{{- bos_token -}}
{%- for message in turns -%}
    {%- if (message.role == 'user') != (loop.index0 is even) -%}
        {{- raise_exception('the mistral format needs user and assistant turns to alternate, starting with user (after an optional system message)') -}}
    {%- endif -%}
    {%- if message.role == 'user' -%}
        {%- set prefix = system_text ~ '\n\n' if loop.first and system_text is not none else '' -%}
        {{- '[INST] ' ~ prefix ~ message.content ~ ' [/INST]' -}}
    {%- else -%}
        {{- message.content ~ eos_token -}}
    {%- endif -%}
{%- endfor -%}
)jinja";

// Gemma 2/3: user and model turns; a system message becomes the start of the first user turn (as Gemma 3 does).
constexpr std::string_view kGemma = R"jinja(
{{- bos_token -}}
{%- if messages and messages[0].role == 'system' -%}
    {%- set prefix = messages[0].content ~ '\n\n' -%}
    {%- set turns = messages[1:] -%}
{%- else -%}
    {%- set prefix = '' -%}
    {%- set turns = messages -%}
{%- endif -%}
{%- for message in turns -%}
    {%- if (message.role == 'user') != (loop.index0 is even) -%}
        {{- raise_exception('the gemma format needs user and assistant turns to alternate, starting with user (after an optional system message)') -}}
    {%- endif -%}
    {{- '<start_of_turn>' ~ ('model' if message.role == 'assistant' else message.role) ~ '\n' -}}
    {{- (prefix if loop.first else '') ~ message.content | trim ~ '<end_of_turn>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<start_of_turn>model\n' -}}
{%- endif -%}
)jinja";

// Phi-3 / Phi-3.5: <|role|> turns ending in <|end|>; the EOS token closes a conversation with no prompt.
constexpr std::string_view kPhi3 = R"jinja(
{%- for message in messages -%}
    {%- if message.role in ['user', 'assistant'] or (message.role == 'system' and message.content) -%}
        {{- '<|' ~ message.role ~ '|>\n' ~ message.content ~ '<|end|>\n' -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<|assistant|>\n' -}}
{%- else -%}
    {{- eos_token -}}
{%- endif -%}
)jinja";

// Zephyr: <|role|> turns ending in the EOS token and a newline.
constexpr std::string_view kZephyr = R"jinja(
{%- for message in messages if message.role in ['system', 'user', 'assistant'] -%}
    {{- '<|' ~ message.role ~ '|>\n' ~ message.content ~ eos_token ~ '\n' -}}
    {%- if loop.last and add_generation_prompt -%}
        {{- '<|assistant|>\n' -}}
    {%- endif -%}
{%- endfor -%}
)jinja";

// DeepSeek LLM / V2 chat: "User: ...\n\nAssistant: ...<eos>".
constexpr std::string_view kDeepseek = R"jinja(
{{- bos_token -}}
{%- for message in messages -%}
    {%- if message.role == 'user' -%}
        {{- 'User: ' ~ message.content ~ '\n\n' -}}
    {%- elif message.role == 'assistant' -%}
        {{- 'Assistant: ' ~ message.content ~ eos_token -}}
    {%- elif message.role == 'system' -%}
        {{- message.content ~ '\n\n' -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- 'Assistant:' -}}
{%- endif -%}
)jinja";

// DeepSeek V3 / R1: the system prompt after BOS, then <｜User｜> and <｜Assistant｜> turns; earlier reasoning
// (up to </think>) is dropped from assistant turns.
constexpr std::string_view kDeepseek3 = R"jinja(
{%- set state = namespace(system_text='') -%}
{%- for message in messages if message.role == 'system' -%}
    {%- set state.system_text = message.content -%}
{%- endfor -%}
{{- bos_token ~ state.system_text -}}
{%- for message in messages -%}
    {%- if message.role == 'user' -%}
        {{- '<｜User｜>' ~ message.content -}}
    {%- elif message.role == 'assistant' -%}
        {%- set text = message.content or '' -%}
        {%- if '</think>' in text -%}
            {%- set text = text.split('</think>')[-1] -%}
        {%- endif -%}
        {{- '<｜Assistant｜>' ~ text ~ '<｜end▁of▁sentence｜>' -}}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{- '<｜Assistant｜>' -}}
{%- endif -%}
)jinja";

constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kBuiltins = {{
    {"chatml", kChatml},
    {"llama2", kLlama2},
    {"llama3", kLlama3},
    {"mistral", kMistral},
    {"gemma", kGemma},
    {"phi3", kPhi3},
    {"zephyr", kZephyr},
    {"deepseek", kDeepseek},
    {"deepseek3", kDeepseek3},
    {"smollm2", kSmollm2},
    {"qwen2", kQwen2},
}};

}  // namespace

std::optional<std::string_view> builtin_chat_template_source(std::string_view name) {
    for (const auto& [n, source] : kBuiltins)
        if (n == name) return source;
    return std::nullopt;
}

std::vector<std::string> builtin_chat_template_names() {
    std::vector<std::string> names;
    for (const auto& [n, unused] : kBuiltins) names.emplace_back(n);
    return names;
}

}  // namespace spool
