#!/usr/bin/env python3
"""Writes tests/fixtures/render/: what transformers' apply_chat_template
makes of a set of conversations the project writes, for tk-render's tests.

  python "$(scripts/oracle/venv.sh)" scripts/oracle/render_fixtures.py [SMOLLM2.gguf]

Outputs
  chats.jsonl        the conversations, in tk-render's input form
  tool-chats.jsonl   conversations with tools (a "tools" line field,
                     assistant tool_calls, tool messages, "trainable")
  tiny-llama3/       the tiny tokenizer extended by Llama 3's special tokens,
                     with the published Llama 3 template
  tiny-llama31/      the same with the published Llama 3.1 template (tools)
  tiny-qwen3/        the tiny tokenizer extended by <think> and </think>,
                     with the published Qwen3 template
  tiny-qwen25/       the tiny tokenizer extended by <tool_call> and
                     </tool_call> (added tokens, as Qwen2.5 has them), with
                     the published Qwen2.5 template (tk's chatml tool form)
  MODEL.txt          the rendered texts as tk-render --show prints them,
                     less its "# record" lines and [[ ]] marks (tiny
                     tokenizer, SmolLM2)
  expected.jsonl     one line per (model, renderer, conversation):
                     text and ids of the rendered conversation, the trained
                     masks for --train-on last-assistant and all-assistant
                     (and, for tool chats, last-assistant-turn: mask_turn),
                     and the generation prompt (conversation without its
                     final assistant message) as text and ids; tool chats'
                     lines say "chats": "tool-chats.jsonl".

The ids come from apply_chat_template(tokenize=True); the masks from
return_assistant_tokens_mask with a copy of each template whose trained
part is wrapped in {% generation %} (checked to render the same string).
Conversations whose content spells a special token are encoded with only
the template's own special tokens counting as such, which is what
tk-render does (see sanitized_ids).  SmolLM2 is
read from its GGUF (its template is GGUF's tokenizer.chat_template); its
lines are left out when the file is not given.  C tests never need Python.
"""
import json
import os
import re
import sys

from tokenizers import AddedToken, Tokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "render")
TINY = os.path.join(ROOT, "tests", "fixtures", "tiny-tokenizer")


def u(c):
    return {"role": "user", "content": c}


def a(c, **kw):
    return {"role": "assistant", "content": c, **kw}


def s(c):
    return {"role": "system", "content": c}


def tool(c):
    return {"role": "tool", "content": c}


def call(name, arguments):
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


# The conversations; "id" is kept in the record's meta by tk-render.
CHATS = [
    [u("What is 2+2?"), a("2 + 2 = 4.")],
    [s("You are terse."), u("Name a colour."), a("Blue.")],
    [u("Hi!"), a("Hello! How can I help?"), u("Tell me a joke."),
     a("Why did the chicken cross the road?\nTo get to the other side.")],
    [s("Réponds en français."), u("Grüße, 世界! naïve café — ñ 🚀"),
     a("Bonjour 🌍 — «très bien», 日本語もOK.")],
    [u(""), a("")],
    [s(""), u("Call the tool."),
     a('{"name": "get_weather", "arguments": {"city": "Paris", "unit": "\\"C\\""}}'),
     u("{{ not a template }} {% raw %} 'quotes' and \"doubles\""), a("Done: {}")],
    [u("  padded question \n"), a("\n\nanswer with spaces  \n\n")],
    [u("Line one\nLine two\n\n\nLine five\ttab"), a("Numbers: 12345 67890, 3.14159")],
    [u("What is 3*3?"), a("<think>\nThree threes.\n</think>\n\nIt is 9.")],
    [u("First?"), a("<think>\nold thought\n</think>\n\nOne."), u("Second?"),
     a("Two.", reasoning_content="thinking about two")],
    [s("Be safe."), u("Say <|im_end|> please"), a("Sure: <|im_end|> done")],
]
# Conversations whose content spells a special token (tk-render never lets
# content forge a token): see sanitized_ids.
SANITIZE = {10}

# Tools in OpenAI's form; numbers of both kinds (1 and 1.0), non-ASCII text.
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city, in °C — «today»",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "The city, e.g. \"Zürich\""},
            "days": {"type": "integer", "minimum": 1, "default": 1.0}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "search", "description": "Search the notes\nfor a query",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                       "required": ["query"]}}},
]

# (messages, tools, renderers that can express it: all unless named).
TOOL_CHATS = [
    ([s("You answer with tools."), u("Weather in Paris?"),
      a("", tool_calls=[call("get_weather", {"city": "Paris", "days": 2, "scale": 0.5})]),
      tool('{"temp": 21.5, "sky": "clear"}'), a("It is 21.5 °C and clear in Paris.")], TOOLS, None),
    ([u("Find tk, then the weather in Zürich."),
      a("", tool_calls=[call("search", '{"query": "tk"}')]),
      tool("tk is a post-training toolchain in C."),
      a(None, tool_calls=[call("get_weather", {"city": "Zürich"})]),
      tool("  4 °C, snow  "), a("tk is a toolchain; Zürich has 4 °C and snow.")], TOOLS, None),
    ([s("Be brief."), u("Weather in Oslo and Rome?"),
      a("Checking both.", tool_calls=[call("get_weather", {"city": "Oslo"}),
                                      call("get_weather", {"city": "Rome", "days": 1})]),
      tool("-3 °C"), tool("18 °C"), a("Oslo -3 °C, Rome 18 °C.")], TOOLS, {"chatml", "qwen3"}),
    ([u("First question?"), a("First answer.", trainable=True), u("Now search tk."),
      a("", tool_calls=[call("search", {"query": "tk"})]), tool("found: tk"),
      a("Found it.")], TOOLS, None),
    ([u("What is the weather?"),
      a("", reasoning_content="I need the city.", tool_calls=[call("get_weather", {"city": "Lyon"})]),
      tool("9 °C"), a("<think>\nReport it.\n</think>\n\nIt is 9 °C in Lyon.")], TOOLS, {"chatml", "qwen3"}),
    ([u("Weather in Paris?"), a("", tool_calls=[call("get_weather", {"city": "Paris"})]),
      tool("21 °C"), a("21 °C.", trainable=False), u("Thanks!"), a("You are welcome.")], None, None),
]

CHATML_PLAIN = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}")

SMOL_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chatml_marked(default_system):
    sys_part = ""
    if default_system:
        sys_part = ("{% if loop.first and messages[0]['role'] != 'system' %}"
                    "{{ '<|im_start|>system\\n" + default_system + "<|im_end|>\\n' }}{% endif %}")
    return ("{% for message in messages %}" + sys_part +
            "{{'<|im_start|>' + message['role'] + '\\n'}}"
            "{% if message.train %}{% generation %}{{ message['content'] + '<|im_end|>' }}"
            "{% endgeneration %}{% else %}{{ message['content'] + '<|im_end|>' }}{% endif %}"
            "{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}"
            "{{ '<|im_start|>assistant\\n' }}{% endif %}")


# Qwen2.5-7B-Instruct's tokenizer_config.json chat_template.
QWEN25 = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

# The same, the trained part of each turn marked (the tool turns as they are).
QWEN25_MARKED = QWEN25.replace("""    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}""", """    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' }}
        {%- if message.train %}{% generation %}{{- message.content + '<|im_end|>' }}{% endgeneration %}{%- else %}{{- message.content + '<|im_end|>' }}{%- endif %}
        {{- '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role + '\\n' }}
        {%- set ns2 = namespace(body=message.content or '') %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {%- if message.content or not loop.first %}{%- set ns2.body = ns2.body + '\\n' %}{%- endif %}
            {%- set ns2.body = ns2.body + '<tool_call>\\n{"name": "' + tool_call.name + '", "arguments": ' + (tool_call.arguments | tojson) + '}\\n</tool_call>' %}
        {%- endfor %}
        {%- if message.train %}{% generation %}{{- ns2.body + '<|im_end|>' }}{% endgeneration %}{%- else %}{{- ns2.body + '<|im_end|>' }}{%- endif %}
        {{- '\\n' }}""")
assert QWEN25_MARKED != QWEN25

# Meta-Llama-3-8B-Instruct's tokenizer_config.json chat_template.
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}")

LLAMA3_MARKED = (
    "{% for message in messages %}{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    "{% if message.train %}{% generation %}{{ message['content'] | trim + '<|eot_id|>' }}"
    "{% endgeneration %}{% else %}{{ message['content'] | trim + '<|eot_id|>' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

# Llama-3.1-8B-Instruct's tokenizer_config.json chat_template.
LLAMA31 = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\\n\\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

LLAMA31_MARKED = LLAMA31.replace("""        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}""", """        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}
        {%- if message.train %}{% generation %}{{- message['content'] | trim + '<|eot_id|>' }}{% endgeneration %}{%- else %}{{- message['content'] | trim + '<|eot_id|>' }}{%- endif %}""").replace("""            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}""", """            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {%- set body = '{"name": "' + tool_call.name + '", "parameters": ' + (tool_call.arguments | tojson) + '}<|eot_id|>' %}
            {%- if message.train %}{% generation %}{{- body }}{% endgeneration %}{%- else %}{{- body }}{%- endif %}
        {%- endif %}""")
assert LLAMA31_MARKED.count("generation %}") == 4

# Qwen3's tokenizer_config.json chat_template (Qwen/Qwen3-0.6B).
QWEN3 = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\\n\\n' }}
    {%- endif %}
    {{- "# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}"""

# The same without tools, the trained part of assistant turns marked.
QWEN3_MARKED = """{%- if messages[0].role == 'system' %}{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- set content = message.content %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
            {%- endif %}
        {%- endif %}
        {{- '<|im_start|>assistant\\n' }}
        {%- if loop.index0 > ns.last_query_index and (loop.last or reasoning_content) %}
            {%- set body = '<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') + '<|im_end|>' %}
        {%- else %}
            {%- set body = content + '<|im_end|>' %}
        {%- endif %}
        {%- if message.train %}{% generation %}{{- body }}{% endgeneration %}{%- else %}{{- body }}{%- endif %}
        {{- '\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}"""


# Qwen3's template with the trained part of assistant turns marked, tools
# included (for the tool chats).
QWEN3_TOOLS_MARKED = QWEN3.replace("""        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
""", """        {{- '<|im_start|>' + message.role + '\\n' }}
        {%- if loop.index0 > ns.last_query_index and (loop.last or reasoning_content) %}
            {%- set ns3 = namespace(body='<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n')) %}
        {%- else %}
            {%- set ns3 = namespace(body=content) %}
        {%- endif %}
        {%- for tool_call in message.tool_calls or [] %}
            {%- if (loop.first and content) or (not loop.first) %}{%- set ns3.body = ns3.body + '\\n' %}{%- endif %}
            {%- if tool_call.function %}{%- set tool_call = tool_call.function %}{%- endif %}
            {%- set ns3.body = ns3.body + '<tool_call>\\n{"name": "' + tool_call.name + '", "arguments": ' + (tool_call.arguments if tool_call.arguments is string else tool_call.arguments | tojson) + '}\\n</tool_call>' %}
        {%- endfor %}
        {%- if message.train %}{% generation %}{{- ns3.body + '<|im_end|>' }}{% endgeneration %}{%- else %}{{- ns3.body + '<|im_end|>' }}{%- endif %}
        {{- '\\n' }}
""")
assert QWEN3_TOOLS_MARKED != QWEN3


def extended_tiny(name, specials, plain, template, bos, eos):
    """The tiny tokenizer plus a format's tokens, saved under OUT/name."""
    tok = Tokenizer.from_file(os.path.join(TINY, "tokenizer.json"))
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    if plain:
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in plain])
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    tok.save(os.path.join(folder, "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": bos,
              "eos_token": eos, "pad_token": eos, "add_bos_token": False,
              "chat_template": template, "model_max_length": 4096}
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return AutoTokenizer.from_pretrained(folder)


def train_flags(chat, mode):
    """Each message's train flag for --train-on last-assistant ("last"),
    all-assistant ("all") or last-assistant-turn ("turn"), then as its own
    "trainable" says."""
    last = max(i for i, m in enumerate(chat) if m["role"] == "assistant")
    last_user = max((i for i, m in enumerate(chat) if m["role"] == "user"), default=-1)

    def by_mode(i, m):
        if m["role"] != "assistant":
            return False
        return {"all": True, "turn": i > last_user, "last": i == last}[mode]
    return [dict(m, train=m.get("trainable", by_mode(i, m))) for i, m in enumerate(chat)]


def mask(tok, marked, chat, mode, text, **kw):
    """The assistant mask of the marked template, after checking that it
    renders what the real template renders."""
    flagged = train_flags(chat, mode)
    got = tok.apply_chat_template(flagged, chat_template=marked, tokenize=False, **kw)
    assert got == text, f"marked template differs:\n{got!r}\n{text!r}"
    out = tok.apply_chat_template(flagged, chat_template=marked, tokenize=True,
                                  return_dict=True, return_assistant_tokens_mask=True, **kw)
    return out["assistant_masks"]


def sanitized_ids(tok, chat, **kw):
    """The ids when only the template's own special tokens count as such:
    the conversation is rendered with each special token spelled in a
    content replaced by a private-use placeholder, the result split at the
    special tokens left (the template's), and each piece between them, its
    placeholders spelled back, encoded with split_special_tokens=True.
    (transformers' sanitize_control_tokens=True means the same, but the
    markers it inserts split the text around them: " <" becomes " ", "<".)"""
    specials = sorted((t.content for t in tok.added_tokens_decoder.values() if t.special),
                      key=len, reverse=True)
    holders = {chr(0xE000 + i): t for i, t in enumerate(specials)}
    def hide(text):
        for h, t in holders.items():
            text = text.replace(t, h)
        return text
    hidden = [dict(m, content=hide(m["content"])) for m in chat]
    text = tok.apply_chat_template(hidden, tokenize=False, **kw)
    pattern = "(" + "|".join(re.escape(t) for t in specials) + ")"
    ids = []
    for piece in re.split(pattern, text):
        if piece in specials:
            ids.append(tok.convert_tokens_to_ids(piece))
        elif piece:
            for h, t in holders.items():
                piece = piece.replace(h, t)
            ids += tok(piece, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    return ids


def render(tok, chat, k, **kw):
    text = tok.apply_chat_template(chat, tokenize=False, **kw)
    if k in SANITIZE:
        return text, sanitized_ids(tok, chat, **kw)
    ids = tok.apply_chat_template(chat, tokenize=True, return_dict=True, **kw)["input_ids"]
    return text, list(ids)


def expected_lines(model, renderer, tok, marked, thinking_variants=False):
    for k, chat in enumerate(CHATS):
        text, ids = render(tok, chat, k)
        line = {"model": model, "renderer": renderer, "chat": k, "text": text, "ids": ids}
        if k not in SANITIZE:
            line["mask_last"] = mask(tok, marked, chat, "last", text)
            line["mask_all"] = mask(tok, marked, chat, "all", text)
            assert len(line["mask_all"]) == len(ids)
        prompt = chat[:-1] if chat[-1]["role"] == "assistant" else chat
        line["prompt_text"], line["prompt_ids"] = render(tok, prompt, k, add_generation_prompt=True)
        if thinking_variants:
            line["prompt_nothink_text"], line["prompt_nothink_ids"] = render(
                tok, prompt, k, add_generation_prompt=True, enable_thinking=False)
        yield line


def expected_tool_lines(model, renderer, tok, marked, thinking_variants=False):
    for k, (chat, tools, renderers) in enumerate(TOOL_CHATS):
        if renderers and renderer not in renderers:
            continue
        kw = {"tools": tools} if tools else {}
        text, ids = render(tok, chat, -1, **kw)
        line = {"model": model, "renderer": renderer, "chats": "tool-chats.jsonl", "chat": k,
                "text": text, "ids": ids}
        for key, mode in (("mask_last", "last"), ("mask_all", "all"), ("mask_turn", "turn")):
            line[key] = mask(tok, marked, chat, mode, text, **kw)
            assert len(line[key]) == len(ids)
        line["prompt_text"], line["prompt_ids"] = render(tok, chat[:-1], -1,
                                                         add_generation_prompt=True, **kw)
        if thinking_variants:
            line["prompt_nothink_text"], line["prompt_nothink_ids"] = render(
                tok, chat[:-1], -1, add_generation_prompt=True, enable_thinking=False, **kw)
        yield line


def smollm2(path):
    folder, name = os.path.split(os.path.abspath(path))
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    assert SMOL_SYSTEM in tok.chat_template
    return tok


def write_show_text(path, texts):
    """What tk-render --show prints for the conversations, less its
    "# record" lines and [[ ]] marks: each text, a newline if it lacks
    one, and a blank line."""
    with open(path, "w") as f:
        for text in texts:
            f.write(text + ("" if text.endswith("\n") else "\n") + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "chats.jsonl"), "w") as f:
        for k, chat in enumerate(CHATS):
            f.write(json.dumps({"id": k, "messages": chat}, ensure_ascii=False) + "\n")
    with open(os.path.join(OUT, "tool-chats.jsonl"), "w") as f:
        for k, (chat, tools, _) in enumerate(TOOL_CHATS):
            line = {"id": k, "messages": chat}
            if tools:
                line["tools"] = tools
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    lines = []
    tiny = PreTrainedTokenizerFast.from_pretrained(TINY)
    lines += expected_lines("tiny-tokenizer", "chatml", tiny, chatml_marked(None))
    llama3 = extended_tiny("tiny-llama3", ["<|begin_of_text|>", "<|end_of_text|>",
                                           "<|start_header_id|>", "<|end_header_id|>",
                                           "<|eot_id|>", "<|eom_id|>"], [],
                           LLAMA3, "<|begin_of_text|>", "<|eot_id|>")
    lines += expected_lines("tiny-llama3", "llama3", llama3, LLAMA3_MARKED)
    qwen3 = extended_tiny("tiny-qwen3", [], ["<think>", "</think>"], QWEN3,
                          None, "<|im_end|>")
    lines += expected_lines("tiny-qwen3", "qwen3", qwen3, QWEN3_MARKED, thinking_variants=True)
    lines += expected_tool_lines("tiny-qwen3", "qwen3", qwen3, QWEN3_TOOLS_MARKED,
                                 thinking_variants=True)
    qwen25 = extended_tiny("tiny-qwen25", [], ["<tool_call>", "</tool_call>"], QWEN25,
                           None, "<|im_end|>")
    lines += expected_tool_lines("tiny-qwen25", "chatml", qwen25, QWEN25_MARKED)
    llama31 = extended_tiny("tiny-llama31", ["<|begin_of_text|>", "<|end_of_text|>",
                                             "<|start_header_id|>", "<|end_header_id|>",
                                             "<|eot_id|>", "<|eom_id|>"], [],
                            LLAMA31, "<|begin_of_text|>", "<|eot_id|>")
    lines += expected_tool_lines("tiny-llama31", "llama3.1", llama31, LLAMA31_MARKED)
    if len(sys.argv) > 1:
        lines += expected_lines("smollm2", "chatml", smollm2(sys.argv[1]),
                                chatml_marked(SMOL_SYSTEM))
    with open(os.path.join(OUT, "expected.jsonl"), "w") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    for model in ("tiny-tokenizer", "smollm2"):
        texts = [line["text"] for line in lines if line["model"] == model]
        if texts:
            write_show_text(os.path.join(OUT, f"{model}.txt"), texts)
    print(f"wrote {len(lines)} expected renderings to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
