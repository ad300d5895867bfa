#!/usr/bin/env python3
"""Writes tests/fixtures/render/: what transformers' apply_chat_template
makes of a set of conversations the project writes, for tk-render's tests.

  python "$(scripts/oracle/venv.sh)" scripts/oracle/render_fixtures.py [SMOLLM2.gguf]

Outputs
  chats.jsonl        the conversations, in tk-render's input form
  tiny-llama3/       the tiny tokenizer extended by Llama 3's special tokens,
                     with the published Llama 3 template
  tiny-qwen3/        the tiny tokenizer extended by <think> and </think>,
                     with the published Qwen3 template
  MODEL.txt          the rendered texts as tk-render --show prints them,
                     less its "# record" lines and [[ ]] marks (tiny
                     tokenizer, SmolLM2)
  expected.jsonl     one line per (model, renderer, conversation):
                     text and ids of the rendered conversation, the trained
                     masks for --train-on last-assistant and all-assistant,
                     and the generation prompt (conversation without its
                     final assistant message) as text and ids.

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
    last = max(i for i, m in enumerate(chat) if m["role"] == "assistant")
    return [dict(m, train=(m["role"] == "assistant" and (mode == "all" or i == last)))
            for i, m in enumerate(chat)]


def mask(tok, marked, chat, mode, text):
    """The assistant mask of the marked template, after checking that it
    renders what the real template renders."""
    flagged = train_flags(chat, mode)
    got = tok.apply_chat_template(flagged, chat_template=marked, tokenize=False)
    assert got == text, f"marked template differs:\n{got!r}\n{text!r}"
    out = tok.apply_chat_template(flagged, chat_template=marked, tokenize=True,
                                  return_dict=True, return_assistant_tokens_mask=True)
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
