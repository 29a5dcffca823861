#!/usr/bin/env python3
"""Makes the OpenAI-format CLIP checkpoints the clip package's tests load.

Run once, from this directory, with PyTorch installed (Debian's python3-torch
1.13 was used):

    /usr/bin/python3 make_openai.py [path/to/shared/fixtures/clip]

It reads the HF fixture model (fixtures/clip/model/model.safetensors, BF16,
random weights), renames its weights to the names of OpenAI's original CLIP
code (visual.conv1.weight, visual.transformer.resblocks.N.attn.in_proj_weight,
token_embedding.weight, ln_final, text_projection, visual.proj, ...), builds
a small OpenAI-style CLIP module (same structure as OpenAI's model.py:
nn.MultiheadAttention with fused in_proj, LayerNorm, QuickGELU, projections
stored [width, embed]) and writes:

  openai-tiny-jit.pt    torch.jit.script of that module, saved with
                        torch.jit.save (a TorchScript zip with data.pkl,
                        constants.pkl, code/), weights converted to fp16 the
                        way OpenAI's convert_weights does (conv/linear/
                        attention/projections fp16, layer norms and
                        embeddings fp32), like ViT-B-32.pt.
  openai-tiny-state.pt  torch.save(state_dict) of the same module in BF16,
                        i.e. exactly the fixture's values.
  openai-tiny.json      what the tests need to compare with the fixture:
                        the fixture's model.safetensors SHA-256, the token ids
                        kept, and the head counts.

The token embedding keeps only the rows of the ids that occur in the
fixture's cases.json (sorted ascending, so <|startoftext|> and
<|endoftext|> stay the two highest ids, as OpenAI's pooling at the argmax
needs): the full 49408-row table would make the files ~6 MB. Tests map each
fixture id to its index in "token_ids" and expect the fixture's outputs.

The script checks, before saving, that its float32 module reproduces the
fixture's expected image_embeds / text_embeds (printing max |diff|).
"""
import collections
import hashlib
import json
import os
import struct
import sys
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

FIX = sys.argv[1] if len(sys.argv) > 1 else os.path.join("..", "..", "..", "shared", "fixtures", "clip")


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[a:b]
        dt = info["dtype"]
        if dt == "BF16":
            arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif dt == "F32":
            arr = np.frombuffer(raw, dtype=np.float32)
        elif dt == "I64":
            arr = np.frombuffer(raw, dtype=np.int64)
        else:
            raise SystemExit(f"{name}: dtype {dt} not handled")
        out[name] = torch.from_numpy(arr.copy().reshape(info["shape"]))
    return out


class LayerNorm(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.dtype
        y = torch.nn.functional.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps)
        return y.to(t)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    attn_mask: Optional[torch.Tensor]

    def __init__(self, d: int, heads: int, inter: int, attn_mask: Optional[torch.Tensor] = None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads)
        self.ln_1 = LayerNorm(d)
        self.mlp = nn.Sequential(collections.OrderedDict([
            ("c_fc", nn.Linear(d, inter)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(inter, d))]))
        self.ln_2 = LayerNorm(d)
        self.attn_mask = attn_mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.attn_mask
        if mask is not None:
            mask = mask.to(dtype=x.dtype)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, d, layers, heads, inter, attn_mask=None):
        super().__init__()
        self.resblocks = nn.Sequential(*[Block(d, heads, inter, attn_mask) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class Visual(nn.Module):
    def __init__(self, res, patch, d, layers, heads, inter, embed):
        super().__init__()
        self.conv1 = nn.Conv2d(3, d, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(d))
        self.positional_embedding = nn.Parameter(torch.zeros((res // patch) ** 2 + 1, d))
        self.ln_pre = LayerNorm(d)
        self.transformer = Transformer(d, layers, heads, inter)
        self.ln_post = LayerNorm(d)
        self.proj = nn.Parameter(torch.zeros(d, embed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x.to(self.conv1.weight.dtype))
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    def __init__(self, cfg, vocab):
        super().__init__()
        tc, vc = cfg["text_config"], cfg["vision_config"]
        ctx, d = tc["max_position_embeddings"], tc["hidden_size"]
        self.visual = Visual(vc["image_size"], vc["patch_size"], vc["hidden_size"], vc["num_hidden_layers"],
                             vc["num_attention_heads"], vc["intermediate_size"], cfg["projection_dim"])
        mask = torch.full((ctx, ctx), float("-inf")).triu_(1)
        self.transformer = Transformer(d, tc["num_hidden_layers"], tc["num_attention_heads"],
                                       tc["intermediate_size"], mask)
        self.token_embedding = nn.Embedding(vocab, d)
        self.positional_embedding = nn.Parameter(torch.zeros(ctx, d))
        self.ln_final = LayerNorm(d)
        self.text_projection = nn.Parameter(torch.zeros(d, cfg["projection_dim"]))
        self.logit_scale = nn.Parameter(torch.zeros([]))
        # OpenAI's TorchScript checkpoints carry these as buffers; build_model
        # deletes them from the state dict.
        self.register_buffer("input_resolution", torch.tensor(vc["image_size"]))
        self.register_buffer("context_length", torch.tensor(ctx))
        self.register_buffer("vocab_size", torch.tensor(vocab))

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)

    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection.to(x.dtype)

    def forward(self, image: torch.Tensor, text: torch.Tensor):
        i = self.encode_image(image)
        t = self.encode_text(text)
        i = i / i.norm(p=2, dim=-1, keepdim=True)
        t = t / t.norm(p=2, dim=-1, keepdim=True)
        li = self.logit_scale.exp() * i @ t.t()
        return li, li.t()


def to_openai(hf, cfg, keep_ids):
    sd = {}
    for tower, pre in (("vision_model", "visual.transformer"), ("text_model", "transformer")):
        n = cfg["vision_config" if tower == "vision_model" else "text_config"]["num_hidden_layers"]
        for i in range(n):
            h = f"{tower}.encoder.layers.{i}."
            o = f"{pre}.resblocks.{i}."
            for p in ("weight", "bias"):
                sd[o + f"attn.in_proj_{p}"] = torch.cat(
                    [hf[h + f"self_attn.{x}_proj.{p}"] for x in ("q", "k", "v")], 0)
                sd[o + f"attn.out_proj.{p}"] = hf[h + f"self_attn.out_proj.{p}"]
                sd[o + f"ln_1.{p}"] = hf[h + f"layer_norm1.{p}"]
                sd[o + f"ln_2.{p}"] = hf[h + f"layer_norm2.{p}"]
                sd[o + f"mlp.c_fc.{p}"] = hf[h + f"mlp.fc1.{p}"]
                sd[o + f"mlp.c_proj.{p}"] = hf[h + f"mlp.fc2.{p}"]
    v = "vision_model."
    sd["visual.conv1.weight"] = hf[v + "embeddings.patch_embedding.weight"]
    sd["visual.class_embedding"] = hf[v + "embeddings.class_embedding"]
    sd["visual.positional_embedding"] = hf[v + "embeddings.position_embedding.weight"]
    for p in ("weight", "bias"):
        sd[f"visual.ln_pre.{p}"] = hf[v + f"pre_layrnorm.{p}"]
        sd[f"visual.ln_post.{p}"] = hf[v + f"post_layernorm.{p}"]
        sd[f"ln_final.{p}"] = hf[f"text_model.final_layer_norm.{p}"]
    sd["visual.proj"] = hf["visual_projection.weight"].t().contiguous()
    sd["text_projection"] = hf["text_projection.weight"].t().contiguous()
    sd["token_embedding.weight"] = hf["text_model.embeddings.token_embedding.weight"][keep_ids].contiguous()
    sd["positional_embedding"] = hf["text_model.embeddings.position_embedding.weight"]
    sd["logit_scale"] = hf["logit_scale"]
    return sd


def convert_weights_fp16(model):
    # As OpenAI's convert_weights: conv/linear/attention weights and the
    # projections to fp16, the rest stays fp32.
    def conv(m):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.weight.data = m.weight.data.half()
            if m.bias is not None:
                m.bias.data = m.bias.data.half()
        if isinstance(m, nn.MultiheadAttention):
            for a in ("in_proj_weight", "in_proj_bias"):
                getattr(m, a).data = getattr(m, a).data.half()
        for a in ("text_projection", "proj"):
            if hasattr(m, a):
                getattr(m, a).data = getattr(m, a).data.half()
    model.apply(conv)


def main():
    model_path = os.path.join(FIX, "model", "model.safetensors")
    cfg = json.load(open(os.path.join(FIX, "model", "config.json")))
    cases = json.load(open(os.path.join(FIX, "cases.json")))
    exp = read_safetensors(os.path.join(FIX, "expected.safetensors"))
    hf = read_safetensors(model_path)
    keep = sorted({i for ids in cases["input_ids"] for i in ids})
    remap = {old: new for new, old in enumerate(keep)}

    model = CLIP(cfg, len(keep))
    sd = to_openai(hf, cfg, keep)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and set(missing) <= {"input_resolution", "context_length", "vocab_size"}, (missing, unexpected)
    model.eval()

    with torch.no_grad():
        img = model.encode_image(exp["pixel_values"])
        img = img / img.norm(dim=-1, keepdim=True)
        ctx = cfg["text_config"]["max_position_embeddings"]
        ids = torch.zeros(len(cases["input_ids"]), ctx, dtype=torch.long)
        for r, row in enumerate(cases["input_ids"]):
            ids[r, :len(row)] = torch.tensor([remap[i] for i in row])
        txt = model.encode_text(ids)
        txt = txt / txt.norm(dim=-1, keepdim=True)
        li, _ = model(exp["pixel_values"], ids)
    di = (img - exp["image_embeds"]).abs().max().item()
    dt = (txt - exp["text_embeds"]).abs().max().item()
    dl = (li - exp["logits_per_image"]).abs().max().item()
    print(f"float32 OpenAI-style module vs fixture: image_embeds {di:.3g}, text_embeds {dt:.3g}, logits_per_image {dl:.3g}")
    assert di < 1e-4 and dt < 1e-4 and dl < 1e-3

    # Plain state dict, BF16 (the fixture's exact values).
    state = collections.OrderedDict((k, v.to(torch.bfloat16) if v.is_floating_point() else v)
                                    for k, v in model.state_dict().items())
    torch.save(state, "openai-tiny-state.pt")

    # TorchScript with OpenAI's fp16 conversion.
    convert_weights_fp16(model)
    changed = 0
    for k, v in model.state_dict().items():
        if v.dtype == torch.float16 and k in sd:
            changed += int((v.float() != sd[k]).sum())
    print(f"fp16 conversion changed {changed} weight values (tiny magnitudes)")
    ts = torch.jit.script(model)
    torch.jit.save(ts, "openai-tiny-jit.pt")
    back = torch.jit.load("openai-tiny-jit.pt")
    print("TorchScript state_dict:", len(back.state_dict()), "tensors;",
          sorted({str(v.dtype) for v in back.state_dict().values()}))

    digest = hashlib.sha256(open(model_path, "rb").read()).hexdigest()
    json.dump({
        "fixture_model_sha256": digest,
        "token_ids": keep,
        "text_heads": cfg["text_config"]["num_attention_heads"],
        "vision_heads": cfg["vision_config"]["num_attention_heads"],
    }, open("openai-tiny.json", "w"), indent=1)
    for f in ("openai-tiny-jit.pt", "openai-tiny-state.pt", "openai-tiny.json"):
        print(f, os.path.getsize(f), "bytes")


if __name__ == "__main__":
    main()
