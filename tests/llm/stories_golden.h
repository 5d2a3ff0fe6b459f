// Reads ../shared/models/stories260K/golden/*.tokens.txt: the prompt ids, the
// ids llama2.c's run.c fed at positions 1..N, and its first 8 logits at the
// last prompt position.
#pragma once
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace userllm::test {

struct StoriesGolden {
  std::vector<int64_t> prompt;  // BOS first
  std::vector<int64_t> fed;     // positions 1..N
  int64_t logits_pos = -1;
  std::vector<float> logits;    // first 8
  int64_t steps() const { return int64_t(fed.size()); }  // run.c's -n
};

inline StoriesGolden read_stories_golden(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') lines.push_back(line);
  StoriesGolden g;
  if (lines.size() != 3) return g;
  std::istringstream a(lines[0]), b(lines[1]), c(lines[2]);
  for (int64_t x; a >> x;) g.prompt.push_back(x);
  for (int64_t x; b >> x;) g.fed.push_back(x);
  std::string pos;
  c >> pos;
  g.logits_pos = std::stoll(pos.substr(4));
  for (float x; c >> x;) g.logits.push_back(x);
  return g;
}

}  // namespace userllm::test
