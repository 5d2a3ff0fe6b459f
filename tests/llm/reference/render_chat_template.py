#!/usr/bin/python3
"""Oracle for tests/llm/test_chat_template.cpp: renders chat templates the way
Hugging Face transformers' apply_chat_template does (_compile_jinja_template:
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks, loopcontrols and
the {% generation %} tag; raise_exception, tojson with HF's signature and
strftime_now; messages, tools=None, documents=None, add_generation_prompt and
the special tokens as variables, then the extra kwargs).

Usage: render_chat_template.py INPUT.json > OUTPUT.json
INPUT: {"template", "bos_token", "eos_token", "cases": [{"messages", "add_generation_prompt", "extra"}]},
or a list of such objects. OUTPUT: per case the rendered string or {"error": "Type: message"}
(a list of such lists for a list input). Needs Debian's python3-jinja2.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


class AssistantTracker(Extension):
    """HF's {% generation %} tag, minus the assistant-mask bookkeeping: renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_generation_support")
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def error(e):
    return {"error": f"{type(e).__name__}: {e}"}


def render_all(env, spec):
    try:
        template = env.from_string(spec["template"])
    except Exception as e:  # a syntax error fails every case
        return [error(e) for _ in spec["cases"]]
    specials = {k: spec[k] for k in ("bos_token", "eos_token") if spec.get(k) is not None}
    out = []
    for case in spec["cases"]:
        kwargs = {"messages": case.get("messages", []), "tools": None, "documents": None,
                  "add_generation_prompt": case.get("add_generation_prompt", False), **specials,
                  **case.get("extra", {})}
        try:
            out.append(template.render(**kwargs))
        except Exception as e:
            out.append(error(e))
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    env = environment()
    result = [render_all(env, s) for s in spec] if isinstance(spec, list) else render_all(env, spec)
    # ASCII escapes keep lone surrogates (from "\ud800" in a template) printable.
    json.dump(result, sys.stdout, ensure_ascii=True)


if __name__ == "__main__":
    main()
