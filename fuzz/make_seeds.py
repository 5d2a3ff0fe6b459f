#!/usr/bin/env python3
"""Writes the seed inputs of the fuzzers that read model, run and request files
into fuzz/corpus/<target>/seed-*. Every seed is our own, small and synthetic (no
third-party file is copied): a valid instance of each format variant the parser
knows, so that fuzzing starts inside the format. Re-run after a format change:
  python3 fuzz/make_seeds.py
The reader fuzzers' seeds (movielens, amazon, google_local) are hand-written files."""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
SEP = b"\n--next-file--\n"


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    header, blobs, off = {}, b"", 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs += raw
        off += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blobs


def main():
    f32 = struct.pack("<4f", 1, 2, 3, 4)
    put("safetensors", "f32", safetensors([("a", "F32", [2, 2], f32)], {"format": "pt"}))
    put("safetensors", "mixed", safetensors([("w", "BF16", [3], b"\x80\x3f" * 3), ("b", "I64", [1], b"\x01" + b"\0" * 7),
                                             ("s", "F32", [], struct.pack("<f", 0.5)), ("e", "U8", [0], b"")]))

    put("safetensors_index", "two", json.dumps({"metadata": {"total_size": 64}, "weight_map": {
        "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
        "lm_head.weight": "model-00002-of-00002.safetensors"}}))

    llama = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 64, "hidden_size": 16,
             "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
             "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
    put("llama_config", "llama", json.dumps(llama))
    put("llama_config", "llama3", json.dumps(dict(llama, eos_token_id=[2, 3], rope_theta=500000.0, rope_scaling={
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64})))
    put("llama_config", "yarn", json.dumps(dict(llama, rope_scaling={"type": "yarn", "factor": 4.0,
                                                                     "original_max_position_embeddings": 32})))
    put("llama_config", "qwen3", json.dumps(dict(llama, model_type="qwen3", head_dim=8, attention_bias=False,
                                                 tie_word_embeddings=True, sliding_window=None, use_sliding_window=False)))
    put("llama_config", "qwen2", json.dumps(dict(llama, model_type="qwen2", rope_scaling={"type": "dynamic", "factor": 2.0})))
    put("llama_config", "mistral", json.dumps(dict(llama, model_type="mistral", sliding_window=16)))
    put("llama_config", "gemma3", json.dumps(dict(llama, architectures=["Gemma3ForCausalLM"], model_type="gemma3_text",
                                                  head_dim=8, hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=8,
                                                  sliding_window=8, layer_types=["sliding_attention", "full_attention"],
                                                  rope_local_base_freq=10000.0, rope_theta=1000000.0,
                                                  final_logit_softcapping=None, tie_word_embeddings=True)))

    # A byte-level BPE (GPT-2 / Llama 3 / Qwen style) and a SentencePiece-style BPE with byte fallback.
    vocab = {c: i for i, c in enumerate(["<unk>", "<s>", "</s>", "a", "b", "c", "h", "e", "l", "o", "\u0120", "he", "ll",
                                         "hell", "hello", "\u0120hello"])}
    bl = {"version": "1.0", "added_tokens": [
              {"id": 1, "content": "<s>", "special": True, "single_word": False, "lstrip": False, "rstrip": False,
               "normalized": False},
              {"id": 2, "content": "</s>", "special": True}],
          "normalizer": None,
          "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"Regex": "(?i:'s|'t)|\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+|\\s+"},
               "behavior": "Isolated", "invert": False},
              {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
          "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                      {"Sequence": {"id": "A", "type_id": 0}}],
                             "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
          "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
          "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                    "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                    "vocab": vocab, "merges": ["h e", "l l", "he ll", "hell o", "\u0120 hello"]}}
    cfg = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
           "chat_template": "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"}
    put("tokenizer_json", "bytelevel", json.dumps(bl).encode() + SEP + json.dumps(cfg).encode() + SEP + b"hello hello hell")
    sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        sp_vocab["<0x%02X>" % b] = 3 + b
    for i, p in enumerate(["\u2581", "h", "e", "l", "o", "\u2581h", "ll", "\u2581he", "\u2581hell", "\u2581hello"]):
        sp_vocab[p] = 259 + i
    sp = {"version": "1.0", "added_tokens": [{"id": 0, "content": "<unk>", "special": True},
                                              {"id": 1, "content": "<s>", "special": True},
                                              {"id": 2, "content": "</s>", "special": True}],
          "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                              {"type": "Replace", "pattern": {"String": " "},
                                                               "content": "\u2581"}]},
          "pre_tokenizer": None,
          "post_processor": None,
          "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                                        {"type": "ByteFallback"}, {"type": "Fuse"},
                                                        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
          "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True, "vocab": sp_vocab,
                    "merges": [["\u2581", "h"], ["l", "l"], ["\u2581h", "e"], ["\u2581he", "ll"], ["\u2581hell", "o"]]}}
    put("tokenizer_json", "spm_bpe", json.dumps(sp).encode() + SEP + b'{"add_bos_token": true, "bos_token": "<s>"}' + SEP + "hello \u00e9\U0001F600".encode())
    put("tokenizer_json", "meta", json.dumps(dict(sp, pre_tokenizer={"type": "Metaspace", "replacement": "\u2581",
                                                                       "prepend_scheme": "first", "split": True},
                                                  normalizer=None)))

    # llama2.c tokenizer.bin: <unk>, <s>, </s>, 256 byte tokens, then merged pieces.
    pieces = [(0.0, b"<unk>"), (0.0, b"\n<s>\n"), (0.0, b"\n</s>\n")] + [(0.0, b"<0x%02X>" % b) for b in range(256)]
    pieces += [(-1.0, b" "), (-2.0, b"e"), (-3.0, b"t"), (-4.0, b" t"), (-5.0, b"he"), (-6.0, b" the"), (-7.0, b"\xc3\xa9")]
    put("llama2c_tokenizer", "tok", struct.pack("<i", 16) + b"".join(struct.pack("<fi", s, len(p)) + p for s, p in pieces))

    # llama2.c checkpoints: legacy (version 0), version 1 (float32) and 2 (Q8_0), tiny shapes.
    dim, hidden, layers, heads, kv, vocab_n, seq = 8, 16, 1, 2, 2, 8, 4
    hd = dim // heads

    def floats(n):
        return struct.pack("<%df" % n, *[((i * 7) % 13 - 6) / 10 for i in range(n)])

    v0 = struct.pack("<7i", dim, hidden, layers, heads, kv, vocab_n, seq)
    v0 += floats(vocab_n * dim + layers * dim + layers * dim * dim * 2 + layers * kv * hd * dim * 2 + layers * dim +
                 layers * hidden * dim * 3 + dim + seq * hd)
    put("llama2c", "v0_shared", v0)
    head = struct.pack("<Ii7iB", 0x616B3432, 1, dim, hidden, layers, heads, kv, vocab_n, seq, 1)
    v1 = head + b"\0" * (256 - len(head))
    v1 += floats(layers * dim * 2 + dim + vocab_n * dim + layers * (dim * dim * 2 + kv * hd * dim * 2 + hidden * dim * 3))
    put("llama2c", "v1", v1)
    group = 4
    head = struct.pack("<Ii7iBi", 0x616B3432, 2, dim, hidden, layers, heads, kv, vocab_n, seq, 0, group)
    v2 = head + b"\0" * (256 - len(head)) + floats(layers * dim * 2 + dim)

    def q8(rows, cols):
        n = rows * cols
        return bytes((i * 5) % 256 for i in range(n)) + floats(n // group)
    v2 += q8(vocab_n, dim)
    for rows, cols in [(dim, dim), (kv * hd, dim), (kv * hd, dim), (dim, dim), (hidden, dim), (dim, hidden), (hidden, dim)]:
        for _ in range(layers):
            v2 += q8(rows, cols)
    v2 += q8(vocab_n, dim)
    put("llama2c", "v2_q8", v2)

    put("encoder_json", "early", json.dumps({"fields": [{"name": "item", "vocab": 100, "dim": 32},
                                                        {"name": "rating", "vocab": 12, "dim": 8}],
                                             "fusion": "early", "layers": 2, "heads": 4, "dim": 32, "ffn_mult": 4,
                                             "max_len": 50, "dropout": 0.1, "time_gap": True}))
    put("encoder_json", "late", json.dumps({"fields": [{"name": "item", "vocab": 10, "dim": 16},
                                                       {"name": "genre", "vocab": 5, "dim": 16}],
                                            "fusion": "late", "layers": 1, "heads": 2, "dim": 16, "ffn_mult": 2,
                                            "max_len": 8, "dropout": 0.0, "time_gap": False}))

    # User embeddings (docs/data-format.md): one vector per user, and one per event.
    def emb(dim, rows_per_user, keys, per_event):
        offsets = [0]
        for r in rows_per_user:
            offsets.append(offsets[-1] + r)
        out = b"ULLMEMB1" + struct.pack("<IIIIQ", 1, dim, len(keys), 1 if per_event else 0, offsets[-1])
        out += struct.pack("<%dQ" % len(offsets), *offsets) + floats(offsets[-1] * dim)
        return out + b"".join(struct.pack("<I", len(k)) + k for k in keys)
    put("embeddings", "users", emb(4, [1, 1, 1], [b"1", b"42", b"\xc3\xa9"], False))
    put("embeddings", "per_event", emb(2, [3, 0, 2], [b"a", b"", b"c"], True))

    # Server bodies: the first byte picks the route (fuzz_http_body.cpp).
    put("http_body", "events", b"\0" + json.dumps({"events": [
        {"item": "1", "rating": 4.5, "timestamp": 1700000000, "text": "great", "id": "e1"},
        {"item": 318, "timestamp": 1700000100}]}).encode())
    put("http_body", "completion", b"\1" + json.dumps({"model": "m", "prompt": "Favourite genre?", "user": "42",
                                                        "max_tokens": 8, "temperature": 0.7, "top_p": 0.9, "top_k": 40,
                                                        "seed": 3, "stop": ["\n"], "stream": True,
                                                        "stream_options": {"include_usage": True}}).encode())
    put("http_body", "chat", b"\2" + json.dumps({"model": "m", "user": "7", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "max_completion_tokens": 4, "stop": "</s>"}).encode())
    put("http_body", "recommend", b"\3" + json.dumps({"user": "1", "k": 5}).encode())
    put("http_body", "user_id", b"\4user-\xc3\xa9-1")

    put("chat_template", "plain", "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}\n{% endfor %}"
                                  "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
    put("chat_template", "rich", """{{- bos_token }}{%- set ns = namespace(sys='') -%}
{%- for m in messages -%}
  {%- if m['role'] == 'system' %}{% set ns.sys = m['content'] | trim %}{% continue %}{% endif -%}
  {%- if m['content'] is string %}{% set text = m['content'] %}{% else %}{% set text = m['content'] | map(attribute='text') | join('') %}{% endif -%}
  {{ '<start_of_turn>' + (m['role'] == 'assistant' and 'model' or m['role']) + '\\n' + (loop.first and ns.sys ~ '\\n\\n' or '') + text | trim + '<end_of_turn>\\n' }}
  {%- if loop.index0 > 10 %}{{ raise_exception('too long') }}{% endif -%}
{%- endfor -%}
{%- if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif -%}
{%- macro greet(name, punct='!') %}Hi {{ name | upper }}{{ punct }}{% endmacro %}{{ greet('x') | length }}
{{ messages | tojson }} {{ range(3) | list | sum }} {{ "a,b" .split(",") | reverse | join("-") }} {{ {'k': 1} | items | list }}""")


if __name__ == "__main__":
    main()
