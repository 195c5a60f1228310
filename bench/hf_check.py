#!/usr/bin/env python3
"""Hugging Face transformers side of bench/hf-check.sh (issue 15): needs torch and transformers, no network.

Subcommands (each prints PASS/FAIL/INFO lines and exits 1 on a FAIL):
  logits       from_pretrained on our export: logits against ours (LogitsDump on cpu and cuda), generate works
  random-gpt2  a GPT-2 of a random config made by transformers itself, saved with save_pretrained
  first-loss   transformers' loss on the first batch the producer packs from a text, against our first logged loss
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

TEXT = ("ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n"
        "Arise, fair sun, and kill the envious moon,")
failed = False


def report(ok, what):
    global failed
    failed |= not ok
    print(("PASS " if ok else "FAIL ") + what, flush=True)


def our_logits(java_cp, backend, checkpoint, ids):
    with tempfile.TemporaryDirectory() as tmp:
        ids_file, out_file = os.path.join(tmp, "ids.bin"), os.path.join(tmp, "logits.bin")
        with open(ids_file, "wb") as f:
            f.write(struct.pack("<%di" % len(ids), *ids))
        java = os.environ.get("JAVA", "/tmp/jre/bin/java")
        subprocess.run([java, "-cp", java_cp, "io.streamtrain.cuda.LogitsDump", backend, checkpoint, ids_file,
                        out_file], check=True)
        with open(out_file, "rb") as f:
            data = f.read()
    return torch.frombuffer(bytearray(data), dtype=torch.float32).view(len(ids), -1)


def compare(label, ours, theirs, max_abs_tolerance, relative_rms_tolerance, argmax_agreement):
    diff = (ours.double() - theirs.double())
    max_abs = diff.abs().max().item()
    rel_rms = (diff.pow(2).mean().sqrt() / theirs.double().pow(2).mean().sqrt()).item()
    agree = (ours.argmax(-1) == theirs.argmax(-1)).double().mean().item()
    ok = max_abs <= max_abs_tolerance and rel_rms <= relative_rms_tolerance and agree >= argmax_agreement
    report(ok, f"{label}: logits of {ours.shape[0]} positions x {ours.shape[1]} ids: max |diff| {max_abs:.3e} "
               f"(<= {max_abs_tolerance:g}), relative rms {rel_rms:.3e} (<= {relative_rms_tolerance:g}), "
               f"argmax agreement {agree:.3f} (>= {argmax_agreement:g})")


def logits(args):
    torch.backends.cuda.matmul.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(args.export)
    model = AutoModelForCausalLM.from_pretrained(args.export, torch_dtype=torch.float32).to(device).eval()
    report(type(model).__name__ == "GPT2LMHeadModel",
           f"AutoModelForCausalLM.from_pretrained({args.export}) gives {type(model).__name__} "
           f"({sum(p.numel() for p in model.parameters()):,} parameters), tokenizer {type(tokenizer).__name__}")
    ids = tokenizer(TEXT, add_special_tokens=False).input_ids
    with open(os.path.join(args.export, "config.json")) as f:
        config = json.load(f)
    report(tokenizer.decode(ids) == TEXT, f"the exported tokenizer encodes and decodes the text back ({len(ids)} ids)")
    with torch.no_grad():
        theirs = model(torch.tensor([ids], device=device)).logits[0].float().cpu()
    compare("ours on cpu (fp32) vs transformers (fp32)", our_logits(args.java_cp, "cpu", args.checkpoint, ids),
            theirs, 2e-3, 1e-4, 0.99)
    if args.backend == "cuda":
        compare("ours on cuda (bf16 matmuls) vs transformers (fp32)",
                our_logits(args.java_cp, "cuda", args.checkpoint, ids), theirs, 0.5, 2e-2, 0.95)
    prompt = tokenizer("ROMEO:", return_tensors="pt").input_ids.to(device)
    with torch.no_grad():
        out = model.generate(prompt, max_new_tokens=30, do_sample=False, pad_token_id=config["eos_token_id"])
    text = tokenizer.decode(out[0])
    report(out.shape[1] == prompt.shape[1] + 30, f"transformers generate (greedy, 30 tokens): {text!r}")
    if args.ours_generated:
        with open(args.ours_generated, encoding="utf-8") as f:
            print(f"INFO streamtrain generate (sampled, temperature 0.8, top-k 40): {f.read().strip()!r}")


def random_gpt2(args):
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=50257, n_positions=args.context, n_embd=128, n_layer=2, n_head=4)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(args.out, safe_serialization=True)
    if args.tokenizer_from:
        for name in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(os.path.join(args.tokenizer_from, name), args.out)
    print(f"INFO transformers made a random GPT-2 ({sum(p.numel() for p in model.parameters()):,} parameters, "
          f"n_positions {args.context}) in {args.out}: {sorted(os.listdir(args.out))}")


def first_loss(args):
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    # the producer's packing: EOT d0 EOT d1 ..., batch 0 = stream[0, B*T], row b = stream[b*T, b*T + T]
    stream = [tokenizer.eos_token_id] + tokenizer(text, add_special_tokens=False).input_ids
    B, T = args.batch, args.seq_len
    rows = torch.tensor([stream[b * T: b * T + T + 1] for b in range(B)])
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float64).eval()
    with torch.no_grad():
        logits = model(rows[:, :T]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1)).item()
    for spec in args.ours:
        backend, value = spec.split("=")
        ours = float(value)
        tolerance = 5e-4 if backend == "cpu" else 1e-2 * abs(loss)
        report(abs(ours - loss) <= tolerance,
               f"first loss of `train --init-from` on {backend}: {ours:.4f} (4 decimals printed), transformers' own "
               f"loss on the same batch (float64): {loss:.6f}, |diff| {abs(ours - loss):.2e} (<= {tolerance:.1e})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("logits")
    p.add_argument("--export", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--java-cp", required=True)
    p.add_argument("--backend", default="cuda")
    p.add_argument("--ours-generated")
    p = commands.add_parser("random-gpt2")
    p.add_argument("--out", required=True)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--tokenizer-from")
    p = commands.add_parser("first-loss")
    p.add_argument("--model", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--seq-len", type=int, required=True)
    p.add_argument("--ours", nargs="+", required=True, help="BACKEND=LOSS ...")
    args = parser.parse_args()
    {"logits": logits, "random-gpt2": random_gpt2, "first-loss": first_loss}[args.command](args)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
