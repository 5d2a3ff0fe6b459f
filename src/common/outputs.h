// What may be written where. A command replaces an existing output only when
// the user asked (--overwrite) and only when it holds the same kind of thing;
// it never writes over one of its own inputs, nor over a file that belongs to
// a dataset or a run another command made.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace userllm {

enum class OutputKind {
  kFile,          // one file (embeddings, a corpus, tokenizer.json)
  kDataset,       // `data prepare`, `data synth`: events.bin
  kCsvLog,        // `data synth --csv`: ratings.csv, movies.csv
  kEncoderRun,    // `encoder pretrain`: encoder.json
  kModel,         // `lm convert`: config.json + model.safetensors
  kLmRun,         // `lm pretrain`: a model directory with run/
  kFinetuneRun,   // `finetune`: user_llm.json
  kReport,        // `report`: index.html
  kDemo,          // `demo`: .done/
  kOther,         // a non-empty directory of none of the kinds above
  kNone,          // absent, or an empty directory
};

// "a prepared dataset", "an encoder run", ...
const char* output_kind_name(OutputKind kind);
// The kind of what `path` holds now.
OutputKind output_kind_of(const std::filesystem::path& path);

struct OutputCheck {
  std::string flag = "--out";
  std::vector<std::filesystem::path> inputs;  // files and directories the command reads
  bool overwrite = false;                     // --overwrite given
  bool resumable = false;                     // a training run: an existing one is continued with --resume
};

// Fails with one line (naming the path, what it holds and what to do) unless
// writing `out` as `kind` is safe.
void check_output(const std::filesystem::path& out, OutputKind kind, const OutputCheck& check);

}  // namespace userllm
