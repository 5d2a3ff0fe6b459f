// Streaming readers for the real interaction logs. Each pushes rows into an
// EventSink (a LogBuilder) and counts lines in sink.report(). A malformed line throws
// userllm::Error "FILE:LINE: what was wrong" unless skip_bad_lines is set, in
// which case it is counted in report().skipped_lines and skipped.
#pragma once
#include <filesystem>
#include <optional>

#include "data/log_builder.h"

namespace userllm::data {

struct ReadOptions {
  bool skip_bad_lines = false;
};

// A MovieLens release directory (or one of its rating files): the CSV releases
// (ratings.csv, movies.csv, tags.csv), the "::" DAT releases (ml-1m, ml-10m;
// Latin-1), and ml-100k (u.data, u.item; Latin-1). The layout is detected.
void read_movielens(const std::filesystem::path& input, EventSink& sink, const ReadOptions& options);

// Amazon Review 2014 / 2018 / 2023 JSON lines, plain or gzip; meta is the
// matching metadata file (titles, categories, brand), when given.
void read_amazon(const std::filesystem::path& reviews, const std::optional<std::filesystem::path>& meta,
                 EventSink& sink, const ReadOptions& options);

// Google Local 2021 reviews (gzip JSON lines) with optional place metadata.
void read_google_local(const std::filesystem::path& reviews, const std::optional<std::filesystem::path>& meta,
                       EventSink& sink, const ReadOptions& options);

// Metadata alone (catalogue records), e.g. to inspect a meta file: returns the
// number of records read and adds them to the sink's catalogue.
uint64_t read_amazon_meta(const std::filesystem::path& meta, EventSink& sink, const ReadOptions& options);
uint64_t read_google_local_meta(const std::filesystem::path& meta, EventSink& sink, const ReadOptions& options);

}  // namespace userllm::data
