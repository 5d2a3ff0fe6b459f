// Splits a template into text and tag tokens the way jinja2's lexer does with
// HF's settings: trim_blocks and lstrip_blocks on, `-`/`+` whitespace control,
// {# comments #} dropped, {% raw %} kept as text, newlines normalised to \n and
// one trailing newline removed (keep_trailing_newline=False).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace userllm::llm::jinja {

enum class Tok { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok type;
  std::string text;  // Text: the data; Name, Op: the spelling; String: the decoded value
  int64_t i = 0;     // Int
  double f = 0;      // Float
  int line = 1, col = 1;
};

// Fails with "chat template: line L col C: ..." on a lexical error.
std::vector<Token> tokenize(const std::string& source);

}  // namespace userllm::llm::jinja
