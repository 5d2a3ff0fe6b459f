// A plain-text corpus from a prepared dataset, so a small LM can learn the
// catalogue: one document per line (item descriptions, then reviews).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "data/dataset.h"

namespace userllm::data {

// "Toy Story (1995) is an adventure, animation and comedy film. ..."
std::string item_document(const Dataset& ds, uint32_t item);
// "A review of Toy Story (1995), rated 4.5: ..." or "" when the event has no text.
std::string review_document(const Dataset& ds, uint64_t event);

struct CorpusReport {
  uint64_t documents = 0, bytes = 0;
};
// Writes FILE atomically: every catalogue item, then every event with text.
CorpusReport write_corpus(const Dataset& ds, const std::filesystem::path& file);

}  // namespace userllm::data
