#!/usr/bin/python3
"""PyTorch (Python) peer of bench/encoder_train.cpp: the same early-fusion user
encoder (per-field tables, concat + projection, causal pre-norm Transformer,
tied per-field heads), the same batch and thread count. Prints one JSON line."""
import json, math, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

def main():
    a = json.loads(sys.argv[1])
    torch.set_num_threads(a["threads"])
    torch.manual_seed(1)
    fields, D, H, L, T, B = a["fields"], a["dim"], a["heads"], a["layers"], a["max_len"], a["batch"]

    class Block(nn.Module):
        def __init__(s):
            super().__init__()
            s.ln1, s.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            s.qkv, s.out = nn.Linear(D, 3 * D), nn.Linear(D, D)
            s.fc1, s.fc2 = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)
            s.drop = nn.Dropout(0.1)
        def forward(s, x, allowed):
            b, t, _ = x.shape
            q, k, v = s.qkv(s.ln1(x)).view(b, t, 3, H, -1).permute(2, 0, 3, 1, 4)
            sc = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            p = s.drop(torch.softmax(sc.masked_fill(~allowed, float("-inf")), -1))
            x = x + s.drop(s.out((p @ v).transpose(1, 2).reshape(b, t, -1)))
            return x + s.drop(s.fc2(F.gelu(s.fc1(s.ln2(x)))))

    class Encoder(nn.Module):
        def __init__(s):
            super().__init__()
            s.tables = nn.ModuleList(nn.Embedding(f["vocab"], f["dim"]) for f in fields)
            s.in_proj = nn.Linear(sum(f["dim"] for f in fields), D)
            s.pos = nn.Embedding(T, D)
            s.blocks = nn.ModuleList(Block() for _ in range(L))
            s.ln_f = nn.LayerNorm(D)
            s.heads = nn.ModuleList(nn.Linear(D, f["dim"]) for f in fields)
            s.biases = nn.ParameterList(nn.Parameter(torch.zeros(f["vocab"])) for f in fields)
            s.drop = nn.Dropout(0.1)
        def forward(s, tok, valid):
            t = tok.shape[1]
            x = s.in_proj(torch.cat([tb(tok[..., i]) for i, tb in enumerate(s.tables)], -1))
            idx = torch.arange(t)
            band = (idx[None, :] <= idx[:, None]) & ((idx[:, None] - idx[None, :]) < T)
            allowed = ((band[None] & valid[:, None, :]) | torch.eye(t, dtype=torch.bool)[None])[:, None]
            h = s.drop(x + s.pos(idx.clamp(max=T - 1)))
            for b in s.blocks:
                h = b(h, allowed)
            return s.ln_f(h)

    m = Encoder()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.01)
    tok = torch.stack([torch.randint(2, f["vocab"], (B, T + 1)) for f in fields], -1)
    valid = torch.ones(B, T, dtype=torch.bool)
    def step():
        h = m(tok[:, :-1], valid).reshape(-1, D)
        loss = 0
        for i, f in enumerate(fields):
            logits = m.heads[i](h) @ m.tables[i].weight.t() + m.biases[i]
            loss = loss + F.cross_entropy(logits, tok[:, 1:, i].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    for _ in range(a["warmup"]):
        step()
    t0 = time.perf_counter()
    for _ in range(a["steps"]):
        step()
    secs = time.perf_counter() - t0
    print(json.dumps({"events_per_s": B * T * a["steps"] / secs,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "torch": torch.__version__}))

main()
