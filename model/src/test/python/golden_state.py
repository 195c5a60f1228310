#!/usr/bin/env python3
"""Computes the golden state of the model module independently, in PyTorch float64.

usage: python3 golden_state.py <golden directory>     (Debian: apt-get install python3-torch)

Reads <dir>/model.safetensors, the initial weights that GoldenStateGenerator.java wrote (a streamtrain
checkpoint), loads them into the reference architecture of ../shared/anchors/torch_gpt_bench.py with
`load_state_dict` (which also proves that PyTorch loads our checkpoints), and writes
<dir>/expected.safetensors:
  tokens (B, T+1) I32       a random batch: inputs tokens[:, :-1], targets tokens[:, 1:]
  logits (B, T, V) F32      of the initial weights
  loss (1) F32              mean cross-entropy of the initial weights
  grad.<name> F32           the gradient of every named parameter (named_parameters: wte.weight holds the
                            head's share too, as the head is tied to it)
  losses (STEPS) F32        the loss of each of STEPS training steps (before its update): clip the global
                            gradient norm, then AdamW, with the learning-rate schedule below
and __metadata__ with the batch shape and the training options (the Java test builds its options from them).
Computed in float64 and stored as float32. Needs only torch and the standard library (no safetensors package).
"""
import json, math, struct, sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

B, STEPS, TOKEN_SEED = 2, 10, 42
# training options of the ten steps: cosine schedule with warm-up, as LearningRateSchedule.at(step)
LR_PEAK, LR_WARMUP, LR_DECAY_STEPS, LR_FLOOR = 1e-2, 3, 10, 0.1
WEIGHT_DECAY, BETA1, BETA2, EPS, MAX_GRAD_NORM = 0.1, 0.9, 0.95, 1e-8, 1.0


# ---- the reference architecture (torch_gpt_bench.py), attention spelled out for torch < 2.0 ----------
class Block(nn.Module):
    def __init__(self, d, H):
        super().__init__()
        self.H = H
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (t.view(B, T, self.H, d // self.H).transpose(1, 2) for t in (q, k, v))
        y = causal_attention(q, k, v)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


def causal_attention(q, k, v):
    """F.scaled_dot_product_attention(q, k, v, is_causal=True), written out."""
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v


class GPT(nn.Module):
    def __init__(self, V, d, L, H, T, **_):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, d), nn.Embedding(T, d)
        self.blocks = nn.ModuleList(Block(d, H) for _ in range(L))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, V, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for b in self.blocks:
            x = b(x)
        logits = self.head(self.ln_f(x))
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss


# ---- safetensors without the safetensors package -----------------------------------------------------
def read_safetensors(path):
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", name
        begin, end = e["data_offsets"]
        raw = bytearray(data[8 + n + begin:8 + n + end])
        tensors[name] = torch.frombuffer(raw, dtype=torch.float32).reshape(e["shape"]).clone()
    return tensors, meta


def write_safetensors(path, tensors, meta):
    header, blobs, offset = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        dtype = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        blob = t.numpy().astype("<f4" if dtype == "F32" else "<i4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def lr_at(step):
    if step <= LR_WARMUP:
        return LR_PEAK * step / LR_WARMUP
    floor = LR_PEAK * LR_FLOOR
    if step >= LR_DECAY_STEPS:
        return floor
    progress = (step - LR_WARMUP) / (LR_DECAY_STEPS - LR_WARMUP)
    return floor + 0.5 * (1 + math.cos(math.pi * progress)) * (LR_PEAK - floor)


def main(directory):
    directory = Path(directory)
    state, meta = read_safetensors(directory / "model.safetensors")
    V, C, L, H, T = (int(meta["config." + k]) for k in ("vocabulary_size", "channels", "layers", "heads",
                                                          "context_length"))
    model = GPT(V, C, L, H, T).double()
    # how a user loads a streamtrain checkpoint into the reference model: everything but the AdamW moments
    model.load_state_dict({k: v.double() for k, v in state.items() if not k.startswith("adamw.")})

    g = torch.Generator().manual_seed(TOKEN_SEED)
    tokens = torch.randint(0, V, (B, T + 1), generator=g, dtype=torch.int64)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    logits, loss = model(inputs, targets)
    loss.backward()
    out = {"tokens": tokens.int(), "logits": logits.detach().float(), "loss": loss.detach().float().reshape(1)}
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad.float()
    model.zero_grad(set_to_none=True)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR_PEAK, betas=(BETA1, BETA2), eps=EPS)
    losses = []
    for step in range(1, STEPS + 1):
        _, loss = model(inputs, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    out["losses"] = torch.tensor(losses, dtype=torch.float32)

    info = dict(batch=B, seq_len=T, steps=STEPS, token_seed=TOKEN_SEED, lr_peak=LR_PEAK, lr_warmup_steps=LR_WARMUP,
                lr_decay_steps=LR_DECAY_STEPS, lr_floor_ratio=LR_FLOOR, weight_decay=WEIGHT_DECAY, beta1=BETA1,
                beta2=BETA2, eps=EPS, max_grad_norm=MAX_GRAD_NORM, torch=torch.__version__, precision="float64",
                generator="model/src/test/python/golden_state.py")
    write_safetensors(directory / "expected.safetensors", out, {k: str(v) for k, v in info.items()})
    print("wrote", directory / "expected.safetensors", "loss", out["loss"].item(), "losses", losses)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
