#!/usr/bin/env python3
"""Generates the chat-template test fixtures from Python jinja2, configured the way Hugging Face transformers
renders chat templates (trim_blocks, lstrip_blocks, loopcontrols, raise_exception, strftime_now and its own
tojson; see transformers/utils/chat_template_utils.py). The C++ test (tests/tokenizer/chat_template_test.cpp)
renders the same templates and conversations and compares bytes.

Writes into tests/tokenizer/templates/:
  conversations.json          the conversations and tool schemas
  cases.json                  one entry per (template, case): conversation, options, and the expected file or error
  <template>.<case>.expected  the exact rendered bytes
  snippets.json               small templates probing one Jinja rule each, with jinja2's output or "error"

Usage: python3 scripts/make_chat_template_fixtures.py   (needs jinja2 >= 3.1: pip install jinja2)
"""

import datetime
import json
import pathlib
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "tokenizer" / "templates"
# strftime_now() sees this fixed time in the fixtures and in the C++ test.
FIXED_NOW = datetime.datetime(2025, 2, 20, 10, 30, 0)


class Generation(jinja2.ext.Extension):
    """HF's {% generation %} tag, rendering its body (the assistant-mask bookkeeping is not needed here)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return FIXED_NOW.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}]

# Message keys are in the order ChatMessage::to_json() emits them: role, content, reasoning_content, tool_calls,
# tool_call_id, name.
CONVERSATIONS = {
    "chat": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello! What's 2+2?"},
        {"role": "assistant", "content": "  2 + 2 = 4.\n"},
        {"role": "user", "content": "Thanks \u2014 and in \u00dcn\u00efcode? \U0001f642"},
    ],
    "chat_nosys": [
        {"role": "user", "content": "Hello! What's 2+2?"},
        {"role": "assistant", "content": "  2 + 2 = 4.\n"},
        {"role": "user", "content": "Thanks \u2014 and in \u00dcn\u00efcode? \U0001f642"},
    ],
    "bad_order": [
        {"role": "user", "content": "Hello"},
        {"role": "user", "content": "Hello again"},
    ],
    "tools": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{
            "id": "call12345", "type": "function",
            "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]},
        {"role": "tool", "content": "{\"temperature\": 21, \"sky\": \"clear\"}", "tool_call_id": "call12345",
         "name": "get_weather"},
        {"role": "assistant", "content": "It is 21 \u00b0C and clear in Paris."},
        {"role": "user", "content": "Thanks!"},
    ],
    "tools_null": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call12345", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "content": "{\"temperature\": 21}", "tool_call_id": "call12345", "name": "get_weather"},
        {"role": "assistant", "content": "It is 21 \u00b0C in Paris."},
        {"role": "user", "content": "Thanks!"},
    ],
    "thinking": [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "<think>\nEasy: add them.\n</think>\n\n4"},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "6", "reasoning_content": "\nAdd again.\n"},
    ],
}

# Per template: (bos_token, eos_token, extra case list). Every template gets chat, chat_nosys and bad_order with
# add_generation_prompt true and false.
TEMPLATES = {
    "chatml": ("<s>", "<|im_end|>", []),
    "command_r": ("<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>", []),
    "deepseek_coder": ("<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<|EOT|>", []),
    "deepseek_r1": ("<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>",
                    [("tools_null", "tools_null", {})]),
    "deepseek_v2": ("<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>", []),
    "functionary_v3_1": ("<|begin_of_text|>", "<|eot_id|>", [("tools", "tools_null", {"tools": True})]),
    "gemma2": ("<bos>", "<eos>", []),
    "gemma3": ("<bos>", "<eos>", []),
    "gemma_7b": ("<bos>", "<eos>", []),
    "hermes3_tool_use": ("<|begin_of_text|>", "<|im_end|>", [("tools", "tools", {"tools": True})]),
    "llama2": ("<s>", "</s>", []),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>", []),
    "llama3_1": ("<|begin_of_text|>", "<|eot_id|>", [("tools", "tools", {"tools": True})]),
    "llama3_2": ("<|begin_of_text|>", "<|eot_id|>", [("tools", "tools", {"tools": True})]),
    "mistral_nemo": ("<s>", "</s>", [("tools", "tools", {"tools": True})]),
    "mistral_v01": ("<s>", "</s>", []),
    "mistral_v02": ("<s>", "</s>", []),
    "mistral_v03": ("<s>", "</s>", [("tools", "tools", {"tools": True})]),
    "openchat": ("<s>", "<|end_of_turn|>", []),
    "phi3_5": ("<s>", "<|endoftext|>", []),
    "phi3_mini": ("<s>", "<|endoftext|>", []),
    "qwen2_5": ("", "<|im_end|>", [("tools", "tools", {"tools": True}), ("tools_null", "tools_null", {"tools": True})]),
    "qwen3": ("", "<|im_end|>", [("tools", "tools", {"tools": True}), ("thinking", "thinking", {}),
                                 ("no_think", "chat", {"enable_thinking": False}),
                                 ("think", "chat", {"enable_thinking": True})]),
    "smollm2": ("<|im_start|>", "<|im_end|>", []),
    "zephyr": ("<s>", "</s>", []),
}

# Each snippet probes one rule; the C++ test expects jinja2's output, or a spool::UsageError where jinja2 raised.
SNIPPETS = [
    # whitespace control, trim_blocks, lstrip_blocks, comments, raw
    ("  {% if true %}\n    yes\n  {% endif %}\nafter\n", {}),
    ("a  {%- if true -%}  b  {%- endif -%}  c", {}),
    ("line\n  {# comment #}\nnext", {}),
    ("x {{- ' y ' -}} z\n\n", {}),
    ("{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}\n", {}),
    ("  {%+ if true %}kept{% endif %}", {}),
    ("{% if true +%}\nkeep newline{% endif %}", {}),
    ("a\r\nb\r\n", {}),
    ("{% raw %}{{ not evaluated }}{% endraw %}", {}),
    ("{#- strip -#}  \n  text", {}),
    ("{{ 'trailing newline kept once' }}\n\n", {}),
    # literals and operators
    ("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}", {}),
    ("{{ 1e20 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 3.0 }} {{ 1_000 }} {{ 2.5e3 }} {{ 10 / 4 }}", {}),
    ("{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] + [2, 3] }}", {}),
    ("{{ 'x' if 1 > 2 else 'y' }} {{ 'z' if false }}|", {}),
    ("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }}", {}),
    ("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }}", {}),
    ("{{ '' or 'fallback' }} {{ 'first' and 'second' }} {{ not none }} {{ [] or {} }}", {}),
    ("{{ \"it's\" }} {{ 'say \"hi\"' }} {{ 'tab\\there' }} {{ 'nl\\nx' }} {{ '\\u00e9\\x41' }} {{ 'a\\qb' }}", {}),
    ("{{ 'adjacent' 'strings' }}", {}),
    ("{{ [1, 'two', none, true, 2.5, {'k': [1]}] }} {{ (1,) }} {{ (1, 2) }} {{ {'a': \"b'c\"} }}", {}),
    ("{{ none }} {{ true }} {{ False }} {{ undefined_thing }}|", {}),
    ("{{ -x }} {{ +x }}", {"x": 3}),
    # attribute, item, slicing
    ("{{ d.a }} {{ d['a'] }} {{ d.missing }}|{{ d['missing'] }}|{{ l[-1] }} {{ l[5] }}|", {"d": {"a": 1}, "l": [1, 2, 3]}),
    ("{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ l[5:] }} {{ s[1:3] }} {{ s[::-1] }}",
     {"l": [1, 2, 3, 4], "s": "h\u00e9llo"}),
    ("{{ s[1] }} {{ s|length }} {{ s[-1] }}", {"s": "h\u00e9llo"}),
    ("{{ none.attr is defined }} {{ d.x is defined }} {{ (d.x or 'alt') }}", {"d": {}}),
    ("{{ msg['items'] }} {{ msg.items()|list }}", {"msg": {"items": 5}}),
    ("{{ m.content[0].text }} {{ m['content'][0]['type'] }}", {"m": {"content": [{"type": "text", "text": "hi"}]}}),
    ("{{ u is string }} {{ u == u }} {{ u in [1] }} {{ 'a' in u }} {{ u|string }}|{{ u ~ 'x' }}", {}),
    # scoping
    ("{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}", {}),
    ("{% for i in [1, 2] %}{% if i == 1 %}{% set y = 5 %}{% endif %}{{ y }};{% endfor %}", {}),
    ("{% set ns = namespace(n=0, items=[]) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", {}),
    ("{% if true %}{% set q = 2 %}{% endif %}{{ q }}", {}),
    ("{% set a, b = [1, 2] %}{{ a }}{{ b }}", {}),
    ("{% set t %}block {{ 1 + 1 }}{% endset %}[{{ t }}]", {}),
    ("{% set t | upper %}shout{% endset %}{{ t }}", {}),
    ("{% with a = 3 %}{{ a }}{% endwith %}{{ a }}|", {}),
    ("{% set messages = messages[1:] %}{{ messages|length }}", {"messages": [1, 2, 3]}),
    # loops
    ("{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
     "{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}", {"l": ["a", "b", "c"]}),
    ("{% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}", {"l": [1, 2, 3]}),
    ("{% for x in l if x > 1 %}{{ x }}{{ loop.length }}{% endfor %}", {"l": [1, 2, 3]}),
    ("{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
     {"d": {"b": 1, "a": 2}}),
    ("{% for k, v in d | items %}{{ k }}{{ v }}{% endfor %}", {"d": {"z": 1, "y": 2}}),
    ("{% for c in 'ab\u00e9' %}[{{ c }}]{% endfor %}", {}),
    ("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}"
     "{% endfor %}", {}),
    ("{% for i in range(1, 10, 3) %}{{ i }}{% endfor %}{% for i in range(3, 0, -1) %}{{ i }}{% endfor %}", {}),
    ("{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }};"
     "{% endfor %}", {}),
    ("{% for x in l %}{{ loop.cycle('odd', 'even') }}{% endfor %}", {"l": [1, 2, 3]}),
    ("{% for x in undefined_list %}x{% else %}none{% endfor %}", {}),
    # macros
    ("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }}"
     " {{ greet(name='C', punct='.') }}", {}),
    ("{% macro m() %}{{ z }}{% endmacro %}{% set z = 3 %}{{ m() }}", {}),
    ("{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(3) }}", {}),
    # filters
    ("{{ '  pad  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'Hello'|upper }}{{ 'Hello'|lower }}{{ 'hello world'|title }}"
     "{{ 'hELLO'|capitalize }}", {}),
    ("{{ [1, 2]|length }} {{ 'abc'|count }} {{ {'a': 1}|length }} {{ missing|length }}", {}),
    ("{{ missing|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ none|d('x') }}", {}),
    ("{{ [1, 2, 3]|join(', ') }} {{ ['a', 'b']|join }} {{ users|join(', ', attribute='name') }}",
     {"users": [{"name": "x"}, {"name": "y"}]}),
    ("{{ [3, 1, 2]|first }} {{ [3, 1, 2]|last }} {{ 'abc'|first }} {{ []|first }}|", {}),
    ("{{ 'abc'|list }} {{ {'k': 1, 'j': 2}|list }} {{ (1, 2)|list }}", {}),
    ("{{ 'a-b-c'|replace('-', '+') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 42|string ~ '!' }}", {}),
    ("{{ '42'|int + 1 }} {{ ' 7 '|int }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(5) }} {{ 4.7|int }} {{ true|int }}"
     " {{ '0x1A'|int(0, 16) }}", {}),
    ("{{ '2.5'|float }} {{ 3|float }} {{ 'no'|float }}", {}),
    ("{{ 'x'|safe }} {{ '<a href=\"x\">&'|e }}", {}),
    ("{{ d|tojson }} {{ d|tojson(indent=2) }} {{ [1, [2, {}], []]|tojson(indent=4) }}",
     {"d": {"b": [1, 2.5, None, True], "a": "\u00e9\"\\\n<tag>"}}),
    ("{{ d|tojson(sort_keys=true) }} {{ d|tojson(separators=(',', ':')) }} {{ 'x'|tojson }} {{ 1.0|tojson }}",
     {"d": {"b": 1, "a": [1, 2]}}),
    ("{{ msgs|selectattr('role', 'equalto', 'user')|list|length }} {{ msgs|rejectattr('role', 'eq', 'user')|list }}",
     {"msgs": [{"role": "user"}, {"role": "assistant"}, {"role": "user"}]}),
    ("{{ msgs|selectattr('tool_calls')|list|length }} {{ msgs|map(attribute='role')|join(',') }}"
     " {{ msgs|map(attribute='x', default='?')|join }}",
     {"msgs": [{"role": "user"}, {"role": "assistant", "tool_calls": [1]}]}),
    ("{{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('even')|list }} {{ ['a', '', 'b']|select|list }}"
     " {{ ['x', 'y']|map('upper')|list }}", {}),
    ("{{ ['b', 'A', 'a', 'B']|unique|list }} {{ ['b', 'A', 'a']|sort }} {{ [3, 1, 2]|sort(reverse=true) }}"
     " {{ users|sort(attribute='age')|map(attribute='name')|join }}",
     {"users": [{"name": "o", "age": 9}, {"name": "y", "age": 1}]}),
    ("{{ [1, 2, 3]|sum }} {{ [3, 1]|max }} {{ [3, 1]|min }} {{ -3|abs }} {{ [1, 2]|reverse|list }} {{ 'ab'|reverse }}",
     {}),
    ("{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}", {}),
    ("{{ {'b': 1, 'a': 2}|dictsort }} {{ 2.567|round(1) }} {{ 2.5|round }} {{ 2.1|round(0, 'ceil') }}", {}),
    ("{{ d|items|list }}", {"d": {"x": 1}}),
    # tests
    ("{{ x is defined }} {{ y is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }}"
     " {{ true is number }} {{ 1 is integer }} {{ true is integer }} {{ 1.5 is float }} {{ true is boolean }}",
     {"x": 0}),
    ("{{ {} is mapping }} {{ [] is mapping }} {{ 'a' is iterable }} {{ 1 is iterable }} {{ [] is sequence }}"
     " {{ y is iterable }} {{ 'a' is sequence }} {{ {} is iterable }}", {}),
    ("{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 2 is in [1, 2] }} {{ 'a' is eq 'a' }}"
     " {{ 1 is equalto 2 }} {{ 3 is gt 2 }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ x is not none }}", {"x": 1}),
    ("{{ none is sameas none }} {{ true is true }} {{ 0 is false }} {{ range is callable }} {{ 'upper' is filter }}", {}),
    ("{{ not x is defined }} {{ x is defined and x > 0 }}", {"x": 1}),
    # methods
    ("{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a\\n\\n'.rstrip('\\n') }}|", {}),
    ("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a b c'.rsplit(' ', 1) }}", {}),
    ("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'Hello World'.upper() }}"
     " {{ 'hello world'.title() }} {{ 'a-b'.replace('-', '_') }} {{ 'hello'.find('l') }} {{ 'x'.join(['a', 'b']) }}", {}),
    ("{{ 'x</think>y'.split('</think>')[-1] }} {{ 'ab'.count('a') }} {{ '12'.isdigit() }} {{ '{} and {}'.format(1, 'b') }}",
     {}),
    ("{{ d.get('a') }} {{ d.get('z', 'dflt') }} {{ d.get('z') }} {{ d.keys()|list }} {{ d.values()|list }}"
     " {{ d.items()|list }}", {"d": {"a": 1, "b": 2}}),
    ("{{ d.get('a') }}", {"d": {"get": 1, "a": 2}}),
    ("{{ strftime_now('%d %b %Y') }} {{ strftime_now is defined }} {{ range(3)|list }}", {}),
    ("{{ dict(a=1, b='x') }} {{ namespace(a=1).a }}", {}),
    # more edge cases: precedence, numbers, unicode, lexing
    ("{{ 1 + 2 ~ 3 }} {{ not 1 == 2 }} {{ - 2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 10 // 3.0 }} {{ -7.5 % 2 }} {{ 2 ** -1 }}"
     " {{ 7 % -3 }}", {}),
    ("{{ 1e16 }} {{ 1e15 }} {{ 123456789012345.6 }} {{ 1/3 }} {{ 0.0001 }} {{ -0.0 }} {{ 1.5e300 }} {{ 5e-324 }}", {}),
    ("{{ [1] == [true] }} {{ {'a': 1} == {'a': 1.0} }} {{ [1, 2] < [1, 3] }} {{ 'a' < 'b' }} {{ (1, 2) + (3,) }}", {}),
    ("{{ x|default }} {{ x|default('d') }}", {"x": None}),
    ("{{ undefined_list|join(',') }}|{{ 'ÄÖ straße'|lower }} {{ 'ÄÖ straße'|upper }} {{ 'émile zola'|title }}"
     " {{ 'éCOLE'|capitalize }} {{ 'ǆungla'.title() }}", {}),
    ("{{ 'a\u3000b c'.split() }} {{ '\u00a0x\u2003'.strip() }}| {{ 'x'|center if false else 'ok' }}", {}),
    ("{{ d|tojson(ensure_ascii=true) }} {{ '\x01\x1f\x7f'|tojson }} {{ 1e20|tojson }} {{ [0.5, -1.0, 3]|tojson }}",
     {"d": {"emoji": "\U0001f642 é"}}),
    ("{{ '0x10'|int }} {{ '0x10'|int(0, 16) }} {{ '0b101'|int(0, 2) }} {{ 'inf'|float }} {{ '1_000'|int }}"
     " {{ ' -12 '|int }} {{ '1e3'|int }} {{ '12abc'|int(-1) }}", {}),
    ("{{ '\\\\' }} {{ '\\101\\x42\\u0043' }} {{ '}}' }} {{ \"%}\" }} {{- ' a ' -}} {# {{ not a tag }} #}", {}),
    ("{%- set x = 5-1 -%}{{ x }} {{ x-1 }} {{ x -1 }}", {}),
    ("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %} {% for m in l|reverse %}{{ m }}{% endfor %}"
     " {{ loop is defined }}", {"l": [1, 2, 3]}),
    ("{% macro m(a) %}{% set inner = a %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }} {{ inner }}|", {}),
    ("{% set ns = namespace(v=[]) %}{% macro add(x) %}{% set ns.v = ns.v + [x] %}{% endmacro %}"
     "{{ add(1) }}{{ add(2) }}{{ ns.v }}", {}),
    ("{{ msgs|selectattr('role', 'in', ['user', 'system'])|list|length }} {{ msgs|map(attribute='role')|unique|list }}",
     {"msgs": [{"role": "user"}, {"role": "system"}, {"role": "tool"}, {"role": "user"}]}),
    ("text {% if true %}same line{% endif %}\n  {{ 'expr line' }}\n  {%- if true %} x{% endif %}\n", {}),
    ("{% if true %}\n\n  two newlines\n{%- endif %}\n{% for i in [1] -%}\n   {{ i }}\n{%- endfor %}", {}),
    ("{% for i in [1, 2, 3] %}{{ i }}{% if not loop.last %}, {% endif %}{% endfor %}", {}),
    ("{{ 'a' if x is defined }}|{% if x is not defined %}nx{% endif %}|{{ (x or {}).get('k', 'none') }}", {}),
    ("{{ [3, 1, 2]|sort|first }} {{ {'a': 1}.items()|first }} {{ 'x'.startswith('x', 0, 1) }} {{ 'abc'.endswith('b', 0, 2) }}",
     {}),
    ("{{ ('%s' ~ 'x') }} {{ 'word' in 'a word here' }} {{ ['a', 'b']|join(', ')|upper }}", {}),
    ("{% filter upper %}abc {{ 'd' }}{% endfilter %} {% filter trim | title %}  x y  {% endfilter %}", {}),
    ("a{% generation %} gen {% endgeneration %}b", {}),
    ("a  {%- raw -%}  x {{ y }}  {%- endraw -%}  b\n  {% raw %}\n  r\n  {% endraw %}\nend", {}),
    ("{% for m in messages %}{{ m.role }}:{{ m.content }}{% if not loop.last %}|{% endif %}{% endfor %}",
     {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": None}]}),
    # errors (jinja2 raises; spool must raise a clear error)
    ("{{ raise_exception('custom failure') }}", {}),
    ("{{ 'a' + 1 }}", {}),
    ("{{ undefined_var + 1 }}", {}),
    ("{{ undefined_var.attr }}", {}),
    ("{{ d.x.y }}", {"d": {}}),
    ("{% for x in 5 %}{% endfor %}", {}),
    ("{{ 1 / 0 }}", {}),
    ("{% set a, b = [1] %}", {}),
    ("{{ undefined_var|tojson }}", {}),
    ("{{ 1 < 'a' }}", {}),
    ("{{ x }", {}),
    ("{% if true %}unclosed", {}),
    ("{% for x in y %}{% endif %}", {}),
    ("{% endfor %}", {}),
    ("{{ 'unterminated }}", {}),
    ("{% break %}", {}),
    ("{{ [1, 2] | nosuchfilter }}", {}),
    ("{{ x.y is defined }}", {}),
    ("{{ none|length }}", {}),
    ("{{ 'x' in none }}", {}),
    ("{{ namespace_value.attr }}{% set plain = {} %}{% set plain.x = 1 %}", {}),
    ("{{ 'a' * 'b' }}", {}),
    ("{{ f() }}", {"f": 1}),
    ("{{ d[1:] }}", {"d": {"a": 1}}),
    ("{{ x[1:] }}", {"x": 5}),
]


def render(env, source, context):
    try:
        return env.from_string(source).render(**context), None
    except jinja2.exceptions.TemplateSyntaxError as e:
        return None, f"syntax: {e}"
    except jinja2.exceptions.TemplateError as e:
        return None, ("raised: " if type(e) is jinja2.exceptions.TemplateError else "error: ") + str(e)
    except Exception as e:  # Python errors from inside the template (TypeError, ZeroDivisionError, ...)
        return None, f"error: {type(e).__name__}: {e}"


def main():
    if tuple(int(p) for p in jinja2.__version__.split(".")[:2]) < (3, 1):
        sys.exit(f"needs jinja2 >= 3.1, found {jinja2.__version__}")
    env = make_env()
    for old in OUT.glob("*.expected"):
        old.unlink()
    (OUT / "conversations.json").write_text(
        json.dumps({"conversations": CONVERSATIONS, "tools": TOOLS, "now": FIXED_NOW.isoformat()},
                   ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    cases = []
    for name, (bos, eos, extra) in TEMPLATES.items():
        source = (OUT / f"{name}.jinja").read_text(encoding="utf-8")
        case_list = [("chat", "chat", {}), ("chat_nosys", "chat_nosys", {}), ("bad_order", "bad_order", {})] + extra
        for case, conversation, opts in case_list:
            for gen in (True, False):
                context = {"messages": CONVERSATIONS[conversation], "tools": TOOLS if opts.get("tools") else None,
                           "documents": None, "add_generation_prompt": gen, "bos_token": bos, "eos_token": eos}
                if "enable_thinking" in opts:
                    context["enable_thinking"] = opts["enable_thinking"]
                text, error = render(env, source, context)
                entry = {"template": name, "case": f"{case}.{'gen' if gen else 'nogen'}", "conversation": conversation,
                         "add_generation_prompt": gen, "bos_token": bos, "eos_token": eos,
                         "tools": bool(opts.get("tools"))}
                if "enable_thinking" in opts:
                    entry["enable_thinking"] = opts["enable_thinking"]
                if error is None:
                    entry["expected"] = f"{name}.{entry['case']}.expected"
                    (OUT / entry["expected"]).write_bytes(text.encode("utf-8"))
                else:
                    entry["error"] = error
                cases.append(entry)
    (OUT / "cases.json").write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    snippets = []
    for source, context in SNIPPETS:
        text, error = render(env, source, context)
        snippets.append({"template": source, "context": context, **({"error": error} if error else {"expected": text})})
    (OUT / "snippets.json").write_text(json.dumps(snippets, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(cases)} cases ({sum('error' in c for c in cases)} raise), {len(snippets)} snippets "
          f"({sum('error' in s for s in snippets)} raise) written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
