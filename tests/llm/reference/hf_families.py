#!/usr/bin/python3
"""Independent Python reference for Hugging Face Llama-family decoders.

Writes, for one model family, a tiny random checkpoint in Hugging Face layout
(config.json + model.safetensors) and reference logits computed by
re-implementing the published Hugging Face modelling code
(transformers modeling_llama.py, modeling_qwen2.py, modeling_qwen3.py,
modeling_mistral.py, modeling_gemma3.py, modeling_rope_utils.py,
masking_utils.py).  It shares no code with the C++ engine under src/llm.

Usage (Debian's /usr/bin/python3 with python3-torch; needs only torch, json,
struct):

    /usr/bin/python3 tests/llm/reference/hf_families.py --family FAMILY --out DIR [--seed 0]

Semantics follow transformers v4.5x (the releases that read `rope_scaling`
straight from config.json, v4.48 to v4.57); where releases differ, the code
says which behaviour it takes and the tiny configs are chosen so that all of
them agree (see README.md next to this file).

Everything is computed in float32, with each op done the way the HF code does
it (RMSNorm upcast to float32 and cast back, softmax in float32, cos/sin in
float32, RoPE frequencies computed as float32 torch tensors).
"""

import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

VOCAB = 256
PROMPT_LENGTHS = (1, 5, 13, 40, 70)
HF_SEMANTICS = "transformers v4.5x (rope_scaling era)"


# ---------------------------------------------------------------------------
# Tiny configs.  Keys and value types are those of the published config.json
# files named in each docstring; only sizes, context lengths and token ids are
# shrunk.  Token ids are remapped into the tiny vocab as (published id % 256).
# ---------------------------------------------------------------------------

def tok(published_id):
    """Map a published special-token id (or list of ids) into the tiny vocab."""
    if isinstance(published_id, list):
        return [tok(t) for t in published_id]
    return published_id % VOCAB


def config_llama():
    """TinyLlama/TinyLlama-1.1B-Chat-v1.0 (Llama 2 architecture, GQA, no rope scaling)."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "bos_token_id": tok(1),
        "eos_token_id": tok(2),
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 3,
        "num_key_value_heads": 1,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.35.0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }


def config_llama3():
    """meta-llama/Llama-3.2-1B (llama3 rope_scaling, explicit head_dim, tied embeddings).

    original_max_position_embeddings is 32 (not 16): the llama3 rule leaves
    frequencies with wavelength < original/high_freq_factor unchanged, and the
    shortest RoPE wavelength is 2*pi, so with 16 (16/4 = 4 < 2*pi) that band
    would be empty.  With head_dim 32 and 32 the three bands are all present:
    pair 0 unchanged (wavelen 6.3 < 8), pair 1 smoothed (14.3), pairs >= 2
    divided by factor (>= 32.4 > 32).  Prompts of 40 and 70 run past 32.
    """
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": tok(128000),
        "eos_token_id": tok(128001),
        "head_dim": 32,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": 2,
        "num_hidden_layers": 3,
        "num_key_value_heads": 1,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {
            "factor": 8.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 32,
            "rope_type": "llama3",
        },
        "rope_theta": 500000.0,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.45.0.dev0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }


def config_llama_linear():
    """Llama 2 fields (meta-llama/Llama-2-7b-hf, lmsys/vicuna-7b-v1.5-16k) with linear scaling.

    Like those published files it has NO rope_theta key: HF's LlamaConfig
    default (10000.0) applies.  rope_scaling uses the older "type" key.
    """
    return {
        "architectures": ["LlamaForCausalLM"],
        "bos_token_id": tok(1),
        "eos_token_id": tok(2),
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 4,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 4.0, "type": "linear"},
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.31.0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }


def config_llama_dynamic():
    """Llama 2 fields with dynamic NTK scaling; max_position_embeddings 16 so it kicks in past 16."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "bos_token_id": tok(1),
        "eos_token_id": tok(2),
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 16,
        "model_type": "llama",
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "num_key_value_heads": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 2.0, "type": "dynamic"},
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.31.0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }


def config_qwen2_yarn():
    """Qwen/Qwen2.5-7B-Instruct fields + the YaRN block its model card documents.

    q/k/v biases, no o bias (hard-wired in Qwen2Attention, no config key).
    max_position_embeddings = factor * original_max_position_embeddings
    (4 * 32 = 128) so HF releases that derive the YaRN factor from
    max_position_embeddings / original_max_position_embeddings agree with the
    ones that use rope_scaling["factor"].  head_dim 32 (hidden 64 / 2 heads)
    so the YaRN ramp has a fractional entry (pair 1 blended 50/50).
    use_sliding_window is false, so sliding_window (128 here, >= every prompt)
    is ignored, as in the published file.
    """
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": tok(151643),
        "eos_token_id": tok(151645),
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
        "max_window_layers": 3,
        "model_type": "qwen2",
        "num_attention_heads": 2,
        "num_hidden_layers": 3,
        "num_key_value_heads": 1,
        "rms_norm_eps": 1e-06,
        "rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32, "type": "yarn"},
        "rope_theta": 1000000.0,
        "sliding_window": 128,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.43.1",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": VOCAB,
    }


def config_qwen3():
    """Qwen/Qwen3-0.6B (q_norm/k_norm, head_dim != hidden/heads, tied embeddings)."""
    return {
        "architectures": ["Qwen3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": tok(151643),
        "eos_token_id": tok(151645),
        "head_dim": 32,
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
        "max_window_layers": 3,
        "model_type": "qwen3",
        "num_attention_heads": 4,
        "num_hidden_layers": 3,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000,
        "sliding_window": None,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.51.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": VOCAB,
    }


def config_gemma3():
    """google/gemma-3-1b-it (Gemma3ForCausalLM, model_type gemma3_text).

    Layer kinds come from sliding_window_pattern as in the published 1b file:
    layer i is global iff (i + 1) % pattern == 0, so pattern 3 with 4 layers
    gives [sliding, sliding, full, sliding].  rope_scaling is the linear
    factor-8 block of gemma-3-4b/12b/27b (the 1b file has null) so that the
    global-layer scaling is exercised.  query_pre_attn_scalar (16) differs from
    head_dim (32), as in gemma-3-27b (168 vs 128).  Like the published 1b
    file there is no tie_word_embeddings key (Gemma3TextConfig defaults it to
    True) and rope_theta / rope_local_base_freq are JSON integers.
    """
    return {
        "architectures": ["Gemma3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attn_logit_softcapping": None,
        "bos_token_id": tok(2),
        "cache_implementation": "hybrid",
        "eos_token_id": tok([1, 106]),
        "final_logit_softcapping": None,
        "head_dim": 32,
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
        "model_type": "gemma3_text",
        "num_attention_heads": 4,
        "num_hidden_layers": 4,
        "num_key_value_heads": 1,
        "pad_token_id": tok(0),
        "query_pre_attn_scalar": 16,
        "rms_norm_eps": 1e-06,
        "rope_local_base_freq": 10000,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "rope_theta": 1000000,
        "sliding_window": 8,
        "sliding_window_pattern": 3,
        "torch_dtype": "float32",
        "transformers_version": "4.52.4",
        "use_cache": True,
        "vocab_size": VOCAB,
    }


def config_gemma3_layer_types():
    """google/gemma-3-270m style: explicit `layer_types` (+ `_sliding_window_pattern`), rope_scaling null.

    The list is deliberately not periodic, and `_sliding_window_pattern` 6 would
    make all 4 layers sliding, so a loader must use layer_types when present.
    This variant writes tie_word_embeddings explicitly.
    """
    cfg = config_gemma3()
    del cfg["sliding_window_pattern"]
    cfg["_sliding_window_pattern"] = 6
    cfg["layer_types"] = ["sliding_attention", "full_attention", "full_attention", "sliding_attention"]
    cfg["rope_scaling"] = None
    cfg["tie_word_embeddings"] = True
    cfg["use_bidirectional_attention"] = False
    cfg["transformers_version"] = "4.55.0.dev0"
    return cfg


def config_mistral():
    """mistralai/Mistral-7B-v0.1 (sliding window on every layer, untied; no head_dim key)."""
    return {
        "architectures": ["MistralForCausalLM"],
        "bos_token_id": tok(1),
        "eos_token_id": tok(2),
        "hidden_act": "silu",
        "hidden_size": 64,
        "initializer_range": 0.02,
        "intermediate_size": 128,
        "max_position_embeddings": 128,
        "model_type": "mistral",
        "num_attention_heads": 4,
        "num_hidden_layers": 3,
        "num_key_value_heads": 1,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "sliding_window": 8,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.34.0.dev0",
        "use_cache": True,
        "vocab_size": VOCAB,
    }


def config_smollm2():
    """HuggingFaceTB/SmolLM2-135M (llama model_type, tied, rope_theta 1e5, GQA 3:1).

    hidden 96 (not 64) so that the published 3:1 head grouping (9 heads, 3 kv
    heads) survives as 6 heads / 2 kv heads of head_dim 16.
    """
    return {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": tok(0),
        "eos_token_id": tok(0),
        "hidden_act": "silu",
        "hidden_size": 96,
        "initializer_range": 0.041666666666666664,
        "intermediate_size": 128,
        "is_llama_config": True,
        "max_position_embeddings": 128,
        "mlp_bias": False,
        "model_type": "llama",
        "num_attention_heads": 6,
        "num_hidden_layers": 3,
        "num_key_value_heads": 2,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_interleaved": False,
        "rope_scaling": None,
        "rope_theta": 100000,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "transformers_version": "4.42.3",
        "use_cache": True,
        "vocab_size": VOCAB,
    }


FAMILIES = {
    "llama": config_llama,
    "llama3": config_llama3,
    "llama-linear": config_llama_linear,
    "llama-dynamic": config_llama_dynamic,
    "qwen2-yarn": config_qwen2_yarn,
    "qwen3": config_qwen3,
    "gemma3": config_gemma3,
    "gemma3-layer-types": config_gemma3_layer_types,
    "mistral": config_mistral,
    "smollm2": config_smollm2,
}


# ---------------------------------------------------------------------------
# Config interpretation: what each HF config class / model class derives from
# config.json, with the HF defaults for absent keys.
# ---------------------------------------------------------------------------

class Spec:
    """Architecture as the HF model classes read it from a config dict."""

    def __init__(self, cfg):
        mt = cfg["model_type"]
        if mt not in ("llama", "mistral", "qwen2", "qwen3", "gemma3_text"):
            raise ValueError("unsupported model_type %r" % mt)
        self.model_type = mt
        self.is_gemma = mt == "gemma3_text"
        self.vocab = cfg["vocab_size"]
        self.hidden = cfg["hidden_size"]
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        # configuration_*.py: num_key_value_heads defaults to num_attention_heads.
        self.n_kv = cfg.get("num_key_value_heads") or self.n_heads
        # LlamaAttention/MistralAttention/Qwen3Attention/Gemma3Attention:
        # getattr(config, "head_dim", None) or hidden_size // num_attention_heads.
        # Qwen2 has no head_dim key.  RoPE uses the same head_dim
        # (modeling_rope_utils._compute_default_rope_parameters).
        self.head_dim = cfg.get("head_dim") or self.hidden // self.n_heads
        self.inter = cfg["intermediate_size"]
        # Config class defaults: Gemma3TextConfig 1e-6, LlamaConfig 1e-6, ...
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        # Gemma3TextConfig.tie_word_embeddings defaults to True, the others to False.
        self.tie = cfg.get("tie_word_embeddings", self.is_gemma)
        self.act = cfg["hidden_activation"] if self.is_gemma else cfg.get("hidden_act", "silu")

        # Projection biases.
        if mt == "qwen2":  # Qwen2Attention: q/k/v bias=True, o bias=False (hard-wired).
            self.qkv_bias, self.o_bias = True, False
        elif mt == "mistral":  # MistralAttention: bias=False everywhere.
            self.qkv_bias, self.o_bias = False, False
        else:  # Llama/Qwen3/Gemma3: bias=config.attention_bias on q, k, v and o.
            b = bool(cfg.get("attention_bias", False))
            self.qkv_bias, self.o_bias = b, b
        self.mlp_bias = bool(cfg.get("mlp_bias", False)) if mt == "llama" else False

        # q_norm / k_norm over head_dim: Qwen3 (Llama-style RMSNorm), Gemma3 ((1 + w) RMSNorm).
        self.qk_norm = mt in ("qwen3", "gemma3_text")

        # Attention scaling: head_dim ** -0.5, Gemma3 query_pre_attn_scalar ** -0.5.
        if self.is_gemma:
            self.scaling = cfg.get("query_pre_attn_scalar", 256) ** -0.5
        else:
            self.scaling = self.head_dim ** -0.5

        # Gemma3TextScaledWordEmbedding: embeddings * hidden_size ** 0.5.
        self.embed_scale = self.hidden ** 0.5 if self.is_gemma else None
        # Gemma3ForCausalLM: final_logit_softcapping applied when not None.
        # (Gemma3Attention does not pass attn_logit_softcapping to the attention
        # function, so HF Gemma 3 ignores it even when set.)
        self.final_softcap = cfg.get("final_logit_softcapping") if self.is_gemma else None

        self.layer_types = self._layer_types(cfg)
        self.sliding_window = cfg.get("sliding_window")
        if self.model_type in ("qwen2", "qwen3") and not cfg.get("use_sliding_window", False):
            self.sliding_window = None  # configuration_qwen2/3.py
        self.rope = self._rope_params(cfg)

    def _layer_types(self, cfg):
        n = self.n_layers
        if self.is_gemma:
            # configuration_gemma3.py: explicit layer_types win; otherwise the
            # BC int `sliding_window_pattern` (default 6):
            # sliding iff bool((i + 1) % pattern).
            if cfg.get("layer_types"):
                return list(cfg["layer_types"])
            pattern = cfg.get("sliding_window_pattern", 6)
            return ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(n)]
        if self.model_type == "mistral":
            # modeling_mistral.py: create_sliding_window_causal_mask for every
            # layer when config.sliding_window is not None.
            return ["sliding_attention" if cfg.get("sliding_window") is not None else "full_attention"] * n
        if self.model_type in ("qwen2", "qwen3"):
            # configuration_qwen2/3.py: sliding_window = sliding_window if
            # use_sliding_window else None; layer i slides iff sliding_window is
            # not None and i >= max_window_layers (unless layer_types given).
            if cfg.get("layer_types"):
                return list(cfg["layer_types"])
            sw = cfg.get("sliding_window") if cfg.get("use_sliding_window", False) else None
            mwl = cfg.get("max_window_layers", 28)
            return ["sliding_attention" if sw is not None and i >= mwl else "full_attention" for i in range(n)]
        return ["full_attention"] * n

    def window_for(self, layer_type):
        return self.sliding_window if layer_type == "sliding_attention" else None

    def _rope_params(self, cfg):
        """RoPE setup per layer type: {layer_type: (rope_type, base, rope_scaling dict)}."""
        default_theta = 1000000.0 if self.is_gemma else 10000.0
        theta = cfg.get("rope_theta", default_theta)
        scaling = cfg.get("rope_scaling") or None
        if scaling is not None:
            # Config BC: "type" was renamed "rope_type"; both are accepted.
            rope_type = scaling.get("rope_type", scaling.get("type"))
        else:
            rope_type = "default"
        glob = (rope_type, theta, scaling)
        if self.is_gemma:
            # Gemma3TextModel: the global rotary_emb uses rope_theta and
            # rope_scaling; rotary_emb_local is a deep-copied config with
            # rope_theta = rope_local_base_freq and rope_scaling default.
            local = ("default", cfg.get("rope_local_base_freq", 10000.0), None)
            return {"full_attention": glob, "sliding_attention": local}
        return {"full_attention": glob, "sliding_attention": glob}


# ---------------------------------------------------------------------------
# RoPE inverse frequencies: modeling_rope_utils.py _compute_*_parameters.
# Each returns (inv_freq float32 [dim/2], attention_factor).
# ---------------------------------------------------------------------------

def rope_default(base, dim):
    """_compute_default_rope_parameters."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    return inv_freq, 1.0


def rope_linear(base, dim, scaling):
    """_compute_linear_scaling_rope_parameters: inv_freq / factor."""
    inv_freq, attention_factor = rope_default(base, dim)
    inv_freq = inv_freq / scaling["factor"]
    return inv_freq, attention_factor


def rope_dynamic(base, dim, scaling, max_position_embeddings, seq_len=None):
    """_compute_dynamic_ntk_parameters.

    seq_len is `torch.max(position_ids) + 1` (an int64 tensor) when called from
    dynamic_rope_update, None at init.  Below max_position_embeddings the base
    is unchanged.  Note the "original max" is config.max_position_embeddings
    (rope_scaling["original_max_position_embeddings"] is not read).
    """
    factor = scaling["factor"]
    if seq_len is None or not bool(seq_len > max_position_embeddings):
        seq_len = max_position_embeddings
    base = base * ((factor * seq_len / max_position_embeddings) - (factor - 1)) ** (dim / (dim - 2))
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    return inv_freq, 1.0


def rope_yarn(base, dim, scaling, max_position_embeddings):
    """_compute_yarn_parameters.

    Factor: rope_scaling["factor"].  (Releases whose YaRN code carries the
    DeepSeek-V3 note, around v4.50, replaced it with
    max_position_embeddings / original_max_position_embeddings whenever
    original_max_position_embeddings is in rope_scaling; later releases and
    v5 keep the explicit factor.  The tiny config keeps the two equal.)
    truncate: rope_scaling.get("truncate", True) (key added with gpt-oss;
    earlier releases always floor/ceil, i.e. truncate=True).
    """
    factor = scaling["factor"]
    attention_factor = scaling.get("attention_factor")
    mscale = scaling.get("mscale")
    mscale_all_dim = scaling.get("mscale_all_dim")
    original_max = scaling.get("original_max_position_embeddings") or max_position_embeddings
    implicit = max_position_embeddings / original_max
    if abs(implicit - factor) > 1e-9:
        print("warning: yarn factor %g != max_position_embeddings/original (%g); some HF releases "
              "use the latter" % (factor, implicit), file=sys.stderr)

    def get_mscale(scale, m=1):
        if scale <= 1:
            return 1.0
        return 0.1 * m * math.log(scale) + 1.0

    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = float(get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim))
        else:
            attention_factor = get_mscale(factor)

    beta_fast = scaling.get("beta_fast") or 32
    beta_slow = scaling.get("beta_slow") or 1

    def find_correction_dim(num_rotations):
        return (dim * math.log(original_max / (num_rotations * 2 * math.pi))) / (2 * math.log(base))

    truncate = scaling.get("truncate", True)
    low = find_correction_dim(beta_fast)
    high = find_correction_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # linear_ramp_factor: prevent singularity

    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    pos_freqs = base ** (torch.arange(0, dim, 2).float() / dim)
    inv_freq_extrapolation = 1.0 / pos_freqs
    inv_freq_interpolation = 1.0 / (factor * pos_freqs)
    extrapolation_factor = 1 - ramp
    inv_freq = (inv_freq_interpolation * (1 - extrapolation_factor)
                + inv_freq_extrapolation * extrapolation_factor)
    return inv_freq, attention_factor


def rope_llama3(base, dim, scaling):
    """_compute_llama3_parameters."""
    inv_freq, attention_factor = rope_default(base, dim)
    factor = scaling["factor"]
    low_freq_factor = scaling["low_freq_factor"]
    high_freq_factor = scaling["high_freq_factor"]
    old_context_len = scaling["original_max_position_embeddings"]
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor

    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    inv_freq_llama = torch.where(is_medium, smoothed, inv_freq_llama)
    return inv_freq_llama, attention_factor


def compute_inv_freq(rope_type, base, dim, scaling, max_position_embeddings, seq_len=None):
    """ROPE_INIT_FUNCTIONS dispatch."""
    if rope_type == "default":
        return rope_default(base, dim)
    if rope_type == "linear":
        return rope_linear(base, dim, scaling)
    if rope_type == "dynamic":
        return rope_dynamic(base, dim, scaling, max_position_embeddings, seq_len)
    if rope_type == "yarn":
        return rope_yarn(base, dim, scaling, max_position_embeddings)
    if rope_type == "llama3":
        return rope_llama3(base, dim, scaling)
    raise ValueError("unsupported rope_type %r" % rope_type)


class RotaryEmbedding:
    """LlamaRotaryEmbedding (and the Qwen2/Qwen3/Mistral/Gemma3 copies) plus
    modeling_rope_utils.dynamic_rope_update.

    Stateful like HF: for "dynamic" rope, each forward computes
    seq_len = max(position_ids) + 1; if it exceeds max_seq_len_cached the
    inv_freq is recomputed for that seq_len (growth); if seq_len drops below
    the original max after a growth, the original inv_freq is restored
    (reset).  Keys already in a KV cache keep the rotation they were given.
    Create a fresh instance per sequence (as a freshly loaded HF model).
    """

    def __init__(self, rope_type, base, dim, scaling, max_position_embeddings):
        self.rope_type = rope_type
        self.base, self.dim, self.scaling = base, dim, scaling
        self.max_pos = max_position_embeddings
        self.inv_freq, self.attention_scaling = compute_inv_freq(
            rope_type, base, dim, scaling, max_position_embeddings)
        self.original_inv_freq = self.inv_freq
        self.max_seq_len_cached = max_position_embeddings
        self.original_max_seq_len = max_position_embeddings

    def _dynamic_frequency_update(self, position_ids):
        seq_len = torch.max(position_ids) + 1
        if seq_len > self.max_seq_len_cached:  # growth
            self.inv_freq, self.attention_scaling = compute_inv_freq(
                self.rope_type, self.base, self.dim, self.scaling, self.max_pos, seq_len=seq_len)
            self.max_seq_len_cached = seq_len
        if seq_len < self.original_max_seq_len and self.max_seq_len_cached > self.original_max_seq_len:  # reset
            self.inv_freq = self.original_inv_freq
            self.max_seq_len_cached = self.original_max_seq_len

    def __call__(self, position_ids):
        """position_ids [B, T] int64 -> (cos, sin) [B, T, dim] float32."""
        if "dynamic" in self.rope_type:
            self._dynamic_frequency_update(position_ids)
        inv_freq_expanded = self.inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
        position_ids_expanded = position_ids[:, None, :].float()
        freqs = (inv_freq_expanded @ position_ids_expanded).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos = emb.cos() * self.attention_scaling
        sin = emb.sin() * self.attention_scaling
        return cos, sin


def make_rotaries(spec, cfg):
    """One rotary module per distinct RoPE setup (Gemma3: global + local; others: one shared)."""
    rot = {}
    by_params = {}
    for layer_type, (rope_type, base, scaling) in spec.rope.items():
        key = (rope_type, base, json.dumps(scaling, sort_keys=True))
        if key not in by_params:
            by_params[key] = RotaryEmbedding(rope_type, base, spec.head_dim, scaling,
                                             cfg["max_position_embeddings"])
        rot[layer_type] = by_params[key]
    return rot


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin):
    """apply_rotary_pos_emb (non-interleaved halves), q/k [B, H, T, D], cos/sin [B, T, D]."""
    cos = cos.unsqueeze(1)
    sin = sin.unsqueeze(1)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


# ---------------------------------------------------------------------------
# Norms, MLP, attention.
# ---------------------------------------------------------------------------

def rms_norm(x, weight, eps):
    """LlamaRMSNorm.forward (same in Qwen2/Qwen3/Mistral): weight * (x_f32 * rsqrt(mean(x^2)+eps)).to(dtype)."""
    input_dtype = x.dtype
    h = x.to(torch.float32)
    variance = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(variance + eps)
    return weight * h.to(input_dtype)


def gemma_rms_norm(x, weight, eps):
    """Gemma3RMSNorm.forward: (x_f32 * rsqrt(mean(x^2)+eps) * (1 + w_f32)).type_as(x)."""
    out = x.float()
    out = out * torch.rsqrt(out.pow(2).mean(-1, keepdim=True) + eps)
    out = out * (1.0 + weight.float())
    return out.type_as(x)


def activation(name, x):
    """transformers.activations.ACT2FN for the names these families publish."""
    if name == "silu":
        return F.silu(x)
    if name == "gelu_pytorch_tanh":  # PytorchGELUTanh
        return F.gelu(x, approximate="tanh")
    if name == "gelu":
        return F.gelu(x)
    raise ValueError("unsupported activation %r" % name)


def linear(x, W, name):
    return F.linear(x, W[name + ".weight"], W.get(name + ".bias"))


def mlp(spec, W, prefix, x):
    """LlamaMLP / Qwen2MLP / Gemma3MLP: down(act(gate(x)) * up(x))."""
    return linear(activation(spec.act, linear(x, W, prefix + "gate_proj")) * linear(x, W, prefix + "up_proj"),
                  W, prefix + "down_proj")


def repeat_kv(x, n_rep):
    """repeat_kv: [B, KV, T, D] -> [B, KV * n_rep, T, D] (each kv head serves n_rep consecutive q heads)."""
    b, kv, t, d = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, kv, n_rep, t, d).reshape(b, kv * n_rep, t, d)


def attention_mask(q_pos, k_pos, sliding_window):
    """masking_utils: causal_mask_function (kv <= q) and, for sliding layers,
    sliding_window_overlay (kv > q - sliding_window).  Additive float mask
    (0 / finfo.min) as the eager path uses."""
    q = q_pos[:, None]
    k = k_pos[None, :]
    allowed = k <= q
    if sliding_window is not None:
        allowed = allowed & (k > q - sliding_window)
    zero = torch.zeros((), dtype=torch.float32)
    neg = torch.tensor(torch.finfo(torch.float32).min, dtype=torch.float32)
    return torch.where(allowed, zero, neg)[None, None]


def eager_attention(q, k, v, mask, scaling, n_rep):
    """eager_attention_forward (modeling_llama.py / modeling_gemma3.py)."""
    k = repeat_kv(k, n_rep)
    v = repeat_kv(v, n_rep)
    w = torch.matmul(q, k.transpose(2, 3)) * scaling
    w = w + mask[:, :, :, : k.shape[-2]]
    w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
    out = torch.matmul(w, v)
    return out.transpose(1, 2).contiguous()


class KVCache:
    """DynamicCache: per layer, keys (post-norm, post-RoPE) and values concatenated along time.

    Sliding layers keep everything here; the mask hides keys outside the
    window, which is what HF's sliding caches (that drop them) amount to.
    """

    def __init__(self, n_layers):
        self.k = [None] * n_layers
        self.v = [None] * n_layers

    def seq_len(self):
        return 0 if self.k[0] is None else self.k[0].shape[2]

    def update(self, i, k, v):
        if self.k[i] is not None:
            k = torch.cat([self.k[i], k], dim=2)
            v = torch.cat([self.v[i], v], dim=2)
        self.k[i], self.v[i] = k, v
        return k, v


def self_attention(spec, W, i, x, cos, sin, mask, cache):
    """LlamaAttention / Qwen2Attention / Qwen3Attention / MistralAttention / Gemma3Attention.forward."""
    p = "model.layers.%d.self_attn." % i
    b, t, _ = x.shape
    shape = (b, t, -1, spec.head_dim)
    q = linear(x, W, p + "q_proj").view(shape)
    k = linear(x, W, p + "k_proj").view(shape)
    v = linear(x, W, p + "v_proj").view(shape)
    if spec.qk_norm:
        # Qwen3: RMSNorm over head_dim on [B, T, H, D] before the transpose;
        # Gemma3: Gemma RMSNorm over head_dim after it.  Both before RoPE.
        norm = gemma_rms_norm if spec.is_gemma else rms_norm
        q = norm(q, W[p + "q_norm.weight"], spec.eps)
        k = norm(k, W[p + "k_norm.weight"], spec.eps)
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    q, k = apply_rotary_pos_emb(q, k, cos, sin)
    if cache is not None:
        k, v = cache.update(i, k, v)
    out = eager_attention(q, k, v, mask, spec.scaling, spec.n_heads // spec.n_kv)
    out = out.reshape(b, t, -1).contiguous()
    return linear(out, W, p + "o_proj")


def decoder_layer_llama(spec, W, i, h, cos, sin, mask, cache):
    """LlamaDecoderLayer (same for Qwen2, Qwen3, Mistral): pre-norm, two residuals."""
    p = "model.layers.%d." % i
    residual = h
    h = rms_norm(h, W[p + "input_layernorm.weight"], spec.eps)
    h = residual + self_attention(spec, W, i, h, cos, sin, mask, cache)
    residual = h
    h = rms_norm(h, W[p + "post_attention_layernorm.weight"], spec.eps)
    return residual + mlp(spec, W, p + "mlp.", h)


def decoder_layer_gemma3(spec, W, i, h, cos, sin, mask, cache):
    """Gemma3DecoderLayer: four (1 + w) norms, sandwiching attention and MLP."""
    p = "model.layers.%d." % i
    residual = h
    h = gemma_rms_norm(h, W[p + "input_layernorm.weight"], spec.eps)
    h = self_attention(spec, W, i, h, cos, sin, mask, cache)
    h = gemma_rms_norm(h, W[p + "post_attention_layernorm.weight"], spec.eps)
    h = residual + h
    residual = h
    h = gemma_rms_norm(h, W[p + "pre_feedforward_layernorm.weight"], spec.eps)
    h = mlp(spec, W, p + "mlp.", h)
    h = gemma_rms_norm(h, W[p + "post_feedforward_layernorm.weight"], spec.eps)
    return residual + h


def model_forward(spec, W, rotaries, input_ids, cache=None):
    """*ForCausalLM.forward for one unpadded sequence; returns logits [T, vocab].

    With a cache, input_ids continue the cached sequence (positions start at
    cache.seq_len(), as HF derives cache_position / position_ids).
    """
    past = cache.seq_len() if cache is not None else 0
    t = input_ids.shape[0]
    q_pos = torch.arange(past, past + t)
    k_pos = torch.arange(0, past + t)
    position_ids = q_pos[None, :]

    h = F.embedding(input_ids[None, :], W["model.embed_tokens.weight"])
    if spec.embed_scale is not None:
        # Gemma3TextScaledWordEmbedding: * embed_scale (a float32 tensor) cast to the weight dtype.
        h = h * torch.tensor(spec.embed_scale).to(h.dtype)

    # Model.forward computes position embeddings once per forward, per rotary module.
    cos_sin = {}
    computed = {}
    for layer_type in sorted(set(spec.layer_types)):
        r = rotaries[layer_type]
        if id(r) not in computed:
            computed[id(r)] = r(position_ids)
        cos_sin[layer_type] = computed[id(r)]
    masks = {lt: attention_mask(q_pos, k_pos, spec.window_for(lt)) for lt in set(spec.layer_types)}

    layer_fn = decoder_layer_gemma3 if spec.is_gemma else decoder_layer_llama
    for i, layer_type in enumerate(spec.layer_types):
        cos, sin = cos_sin[layer_type]
        h = layer_fn(spec, W, i, h, cos, sin, masks[layer_type], cache)

    norm = gemma_rms_norm if spec.is_gemma else rms_norm
    h = norm(h, W["model.norm.weight"], spec.eps)
    lm_head = W["model.embed_tokens.weight"] if spec.tie else W["lm_head.weight"]
    logits = F.linear(h, lm_head)
    if spec.final_softcap is not None:
        logits = torch.tanh(logits / spec.final_softcap) * spec.final_softcap
    return logits[0]


def full_logits(spec, cfg, W, prompt):
    """Whole prompt in one forward, fresh model state."""
    return model_forward(spec, W, make_rotaries(spec, cfg), prompt)


def incremental_logits(spec, cfg, W, prompt):
    """Prefill ceil(T/2) tokens, then one token per forward with the KV cache (fresh model state)."""
    rotaries = make_rotaries(spec, cfg)
    cache = KVCache(spec.n_layers)
    t = prompt.shape[0]
    prefill = (t + 1) // 2
    rows = [model_forward(spec, W, rotaries, prompt[:prefill], cache)]
    for j in range(prefill, t):
        rows.append(model_forward(spec, W, rotaries, prompt[j:j + 1], cache))
    return torch.cat(rows, dim=0)


# ---------------------------------------------------------------------------
# Random weights with HF parameter names.
# ---------------------------------------------------------------------------

def make_weights(spec, seed):
    """Random weights, HF names.  Scales are chosen so that attention is far
    from uniform and logits spread over a few units (std 0.02 at hidden 64
    would make attention nearly uniform and hide RoPE / mask mistakes):
      embeddings / lm_head: std 0.3
      q_proj, k_proj: std 1.5 / sqrt(hidden)
      v, o, gate, up, down: std 1 / sqrt(fan_in)
      biases: std 0.3
      Llama-style norms: 1 + 0.1 * randn;  Gemma (1 + w) norms: 0.1 * randn
    """
    g = torch.Generator().manual_seed(seed)
    W = {}

    def normal(shape, std):
        return torch.randn(shape, generator=g, dtype=torch.float32) * std

    def norm_weight(n):
        noise = 0.1 * torch.randn(n, generator=g, dtype=torch.float32)
        return noise if spec.is_gemma else 1.0 + noise

    H, D = spec.hidden, spec.head_dim
    W["model.embed_tokens.weight"] = normal((spec.vocab, H), 0.3)
    for i in range(spec.n_layers):
        p = "model.layers.%d." % i
        a = p + "self_attn."
        W[a + "q_proj.weight"] = normal((spec.n_heads * D, H), 1.5 / math.sqrt(H))
        W[a + "k_proj.weight"] = normal((spec.n_kv * D, H), 1.5 / math.sqrt(H))
        W[a + "v_proj.weight"] = normal((spec.n_kv * D, H), 1.0 / math.sqrt(H))
        W[a + "o_proj.weight"] = normal((H, spec.n_heads * D), 1.0 / math.sqrt(spec.n_heads * D))
        if spec.qkv_bias:
            W[a + "q_proj.bias"] = normal((spec.n_heads * D,), 0.3)
            W[a + "k_proj.bias"] = normal((spec.n_kv * D,), 0.3)
            W[a + "v_proj.bias"] = normal((spec.n_kv * D,), 0.3)
        if spec.o_bias:
            W[a + "o_proj.bias"] = normal((H,), 0.3)
        if spec.qk_norm:
            W[a + "q_norm.weight"] = norm_weight(D)
            W[a + "k_norm.weight"] = norm_weight(D)
        m = p + "mlp."
        W[m + "gate_proj.weight"] = normal((spec.inter, H), 1.0 / math.sqrt(H))
        W[m + "up_proj.weight"] = normal((spec.inter, H), 1.0 / math.sqrt(H))
        W[m + "down_proj.weight"] = normal((H, spec.inter), 1.0 / math.sqrt(spec.inter))
        if spec.mlp_bias:
            W[m + "gate_proj.bias"] = normal((spec.inter,), 0.3)
            W[m + "up_proj.bias"] = normal((spec.inter,), 0.3)
            W[m + "down_proj.bias"] = normal((H,), 0.3)
        W[p + "input_layernorm.weight"] = norm_weight(H)
        W[p + "post_attention_layernorm.weight"] = norm_weight(H)
        if spec.is_gemma:
            W[p + "pre_feedforward_layernorm.weight"] = norm_weight(H)
            W[p + "post_feedforward_layernorm.weight"] = norm_weight(H)
    W["model.norm.weight"] = norm_weight(H)
    if not spec.tie:
        W["lm_head.weight"] = normal((spec.vocab, H), 0.3)
    return W


def make_prompts(seed):
    g = torch.Generator().manual_seed(seed + 1000003)
    return [torch.randint(0, VOCAB, (n,), generator=g, dtype=torch.int64) for n in PROMPT_LENGTHS]


# ---------------------------------------------------------------------------
# safetensors, by hand: u64 LE header length, JSON header padded with spaces
# to a multiple of 8, then raw little-endian data.
# ---------------------------------------------------------------------------

_ST_DTYPES = {torch.float32: ("F32", "f", 4), torch.int64: ("I64", "q", 8)}
_ST_BY_NAME = {v[0]: (k, v[1], v[2]) for k, v in _ST_DTYPES.items()}


def write_safetensors(path, tensors, metadata=None):
    header = {"__metadata__": dict(metadata or {"format": "pt"})}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        code, fmt, size = _ST_DTYPES[t.dtype]
        flat = t.reshape(-1).tolist()
        data = struct.pack("<%d%s" % (len(flat), fmt), *flat)
        assert len(data) == len(flat) * size
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)


def read_safetensors(path):
    """Returns ({name: tensor}, metadata)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    base = 8 + n
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        dtype, fmt, size = _ST_BY_NAME[info["dtype"]]
        b, e = info["data_offsets"]
        count = (e - b) // size
        vals = struct.unpack("<%d%s" % (count, fmt), blob[base + b: base + e])
        out[name] = torch.tensor(vals, dtype=dtype).reshape(info["shape"])
    return out, meta


# ---------------------------------------------------------------------------
# Driver.
# ---------------------------------------------------------------------------

def generate(family, out_dir, seed):
    cfg = FAMILIES[family]()
    spec = Spec(cfg)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")

    model_path = os.path.join(out_dir, "model.safetensors")
    write_safetensors(model_path, make_weights(spec, seed), {"format": "pt"})
    # Compute from the weights as written (round trip through the file).
    W, _ = read_safetensors(model_path)
    with open(os.path.join(out_dir, "config.json")) as f:
        cfg = json.load(f)
    spec = Spec(cfg)

    prompts = make_prompts(seed)
    ref = {}
    max_diff = 0.0
    ok = True
    with torch.no_grad():
        for i, prompt in enumerate(prompts):
            full = full_logits(spec, cfg, W, prompt)
            inc = incremental_logits(spec, cfg, W, prompt)
            ref["prompt_%d" % i] = prompt
            ref["logits_%d" % i] = full
            ref["incremental_logits_%d" % i] = inc
            diff = (full - inc).abs().max().item()
            max_diff = max(max_diff, diff)
            if not (torch.isfinite(full).all() and torch.isfinite(inc).all()):
                print("error: non-finite logits for prompt %d" % i, file=sys.stderr)
                ok = False
            if full.std().item() < 0.1:
                print("error: degenerate logits for prompt %d (std %.3g)" % (i, full.std().item()),
                      file=sys.stderr)
                ok = False
    dynamic = any(rt == "dynamic" for rt, _, _ in spec.rope.values())
    if not dynamic and max_diff > 1e-4:
        print("error: full and incremental logits differ by %.3g" % max_diff, file=sys.stderr)
        ok = False

    meta = {
        "format": "pt",
        "family": family,
        "seed": str(seed),
        "prompt_lengths": ",".join(str(n) for n in PROMPT_LENGTHS),
        "prefill_lengths": ",".join(str((n + 1) // 2) for n in PROMPT_LENGTHS),
        "semantics": HF_SEMANTICS,
    }
    write_safetensors(os.path.join(out_dir, "reference.safetensors"), ref, meta)
    note = " (dynamic NTK: differs by design)" if dynamic else ""
    print("%s: prompts=%d lengths=%s max|full-incremental|=%.3e%s"
          % (family, len(prompts), ",".join(str(n) for n in PROMPT_LENGTHS), max_diff, note))
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", required=True, choices=sorted(FAMILIES))
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # deterministic, and the machine is shared
    return 0 if generate(args.family, args.out, args.seed) else 1


if __name__ == "__main__":
    sys.exit(main())
