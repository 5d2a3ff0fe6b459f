// Streaming readers for the real interaction logs. Each pushes rows into an
// EventSink (a LogBuilder) and counts lines in sink.report(). A malformed line throws
// userllm::Error "FILE:LINE: what was wrong" unless skip_bad_lines is set, in
// which case it is counted in report().skipped_lines and skipped.
//
// Shared rules: lines_read counts the non-blank data lines of every file read
// (headers excluded); an input without data lines, a missing header column or
// a truncated gzip is an Error that skip_bad_lines does not skip. Ratings must
// be in 0.5 steps. Emitted strings are valid UTF-8. A metadata record whose key
// repeats an earlier one is dropped (the first wins; the Google Local Vermont
// meta file repeats 48 gmap_ids with byte-identical records).
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/line_reader.h"

#include "data/log_builder.h"

namespace userllm::data {

struct ReadOptions {
  bool skip_bad_lines = false;
};

// A MovieLens release directory (or one of its rating files): the CSV releases
// (ratings.csv, movies.csv, tags.csv), the "::" DAT releases (ml-1m, ml-10m;
// Latin-1), and ml-100k (u.data, u.item; Latin-1). The layout is detected.
// Titles lose their trailing "(1995)" into ItemRecord::year; "(no genres
// listed)" and the 100k "unknown" flag mean no genre. Tags (tags.csv,
// tags.dat) are not events: a movie's ten most used tags become its
// description, "Tags: pixar, fun, ...". A line that is not UTF-8 is read as Latin-1.
void read_movielens(const std::filesystem::path& input, EventSink& sink, const ReadOptions& options);
// The same over files in memory (the fuzzers): file name ("ratings.csv",
// "movies.dat", "u.data", ...) to its bytes, laid out as in a release directory.
void read_movielens(const std::map<std::string, std::string_view>& files, EventSink& sink, const ReadOptions& options);

// Each input below is a file or bytes in memory (common/line_reader.h).
//
// Amazon Review 2014 / 2018 / 2023 JSON lines, plain or gzip; meta is the
// matching metadata file (titles, categories, brand), when given. The version
// is told per line by its user field. A review without text is an event with
// empty text. 2014 metadata written as Python dict literals is read too.
// Timestamps in milliseconds (2023) become seconds.
void read_amazon(const TextInput& reviews, const std::optional<TextInput>& meta,
                 EventSink& sink, const ReadOptions& options);

// Google Local 2021 reviews (gzip JSON lines) with optional place metadata:
// a place's name is the item title, its category list (or null) the genres.
// Rating-only reviews (text null) are events with empty text.
void read_google_local(const TextInput& reviews, const std::optional<TextInput>& meta,
                       EventSink& sink, const ReadOptions& options);

// Metadata alone (catalogue records), e.g. to inspect a meta file: returns the
// number of records read and adds them to the sink's catalogue.
uint64_t read_amazon_meta(const TextInput& meta, EventSink& sink, const ReadOptions& options);
uint64_t read_google_local_meta(const TextInput& meta, EventSink& sink, const ReadOptions& options);

}  // namespace userllm::data
