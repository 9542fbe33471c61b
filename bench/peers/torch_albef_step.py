#!/usr/bin/env python3
"""PyTorch peer of `npm run bench:pretrain`: one ALBEF pre-training step —
ITC with momentum distillation and queues, ITM with hard negatives drawn from
the ITC similarities, MLM with the momentum model's soft labels; forward,
backward, AdamW, momentum update — the model and the step of ALBEF's
models/model_pretrain.py (ViT-B/16 pre-LN with eps 1e-6; BERT-base post-LN,
6 text layers then 6 fusion layers with cross-attention to the image; MLM head
tied to the word embeddings), written here in plain PyTorch because ALBEF's
own code needs `transformers`, which Debian does not package.

Usage: torch_albef_step.py --batch B --steps N --threads T [--queue Q] [--image 256]
Prints one JSON object: ms per step (median of the timed steps, after one
warm-up step), peak RSS (MB), parameters. The caller sets OPENBLAS_NUM_THREADS
and OMP_NUM_THREADS (Debian's torch calls the system OpenBLAS).
"""
import argparse
import copy
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------- ViT (timm's VisionTransformer as ALBEF uses it)


class VitBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = ((q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5).softmax(dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Vit(nn.Module):
    def __init__(self, image, patch=16, d=768, depth=12, heads=12):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, d, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, d) * 0.02)
        self.blocks = nn.ModuleList([VitBlock(d, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


# ---------------------------------------------------------------- BERT with fusion layers (ALBEF's xbert)


class Attention(nn.Module):
    def __init__(self, d, heads, kv_dim, drop):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(kv_dim, d)
        self.value = nn.Linear(kv_dim, d)
        self.dense = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d, eps=1e-12)
        self.drop = nn.Dropout(drop)

    def forward(self, x, kv, bias):
        b, n, d = x.shape
        h = self.heads
        q = self.query(x).view(b, n, h, d // h).transpose(1, 2)
        k = self.key(kv).view(b, kv.shape[1], h, d // h).transpose(1, 2)
        v = self.value(kv).view(b, kv.shape[1], h, d // h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // h)
        if bias is not None:
            att = att + bias
        att = self.drop(att.softmax(dim=-1))
        y = (att @ v).transpose(1, 2).reshape(b, n, d)
        return self.norm(x + self.drop(self.dense(y)))


class BertLayer(nn.Module):
    def __init__(self, d, heads, cross, drop=0.1):
        super().__init__()
        self.attention = Attention(d, heads, d, drop)
        self.crossattention = Attention(d, heads, 768, drop) if cross else None
        self.intermediate = nn.Linear(d, 4 * d)
        self.output = nn.Linear(4 * d, d)
        self.norm = nn.LayerNorm(d, eps=1e-12)
        self.drop = nn.Dropout(drop)

    def forward(self, x, bias, image=None):
        x = self.attention(x, x, bias)
        if self.crossattention is not None:
            x = self.crossattention(x, image, None)
        return self.norm(x + self.drop(self.output(F.gelu(self.intermediate(x)))))


class Bert(nn.Module):
    def __init__(self, vocab=30522, d=768, heads=12, text_layers=6, fusion_layers=6, drop=0.1):
        super().__init__()
        self.word = nn.Embedding(vocab, d)
        self.position = nn.Embedding(512, d)
        self.token_type = nn.Embedding(2, d)
        self.emb_norm = nn.LayerNorm(d, eps=1e-12)
        self.drop = nn.Dropout(drop)
        self.text = nn.ModuleList([BertLayer(d, heads, False, drop) for _ in range(text_layers)])
        self.fusion = nn.ModuleList([BertLayer(d, heads, True, drop) for _ in range(fusion_layers)])
        # MLM head (BertOnlyMLMHead): transform, then the decoder tied to the word embeddings
        self.head_dense = nn.Linear(d, d)
        self.head_norm = nn.LayerNorm(d, eps=1e-12)
        self.head_bias = nn.Parameter(torch.zeros(vocab))

    @staticmethod
    def bias(mask):
        return (1.0 - mask[:, None, None, :].float()) * -10000.0

    def encode_text(self, ids, mask):
        n = ids.shape[1]
        x = self.word(ids) + self.position.weight[:n] + self.token_type.weight[0]
        x = self.drop(self.emb_norm(x))
        bias = self.bias(mask)
        for layer in self.text:
            x = layer(x, bias)
        return x

    def fuse(self, text, mask, image):
        bias = self.bias(mask)
        for layer in self.fusion:
            text = layer(text, bias, image)
        return text

    def mlm_logits(self, x):
        return F.linear(self.head_norm(F.gelu(self.head_dense(x))), self.word.weight, self.head_bias)


class Albef(nn.Module):
    def __init__(self, image, queue, embed=256, temp=0.07, momentum=0.995):
        super().__init__()
        self.visual_encoder = Vit(image)
        self.text_encoder = Bert()
        self.vision_proj = nn.Linear(768, embed)
        self.text_proj = nn.Linear(768, embed)
        self.itm_head = nn.Linear(768, 2)
        self.temp = nn.Parameter(torch.ones([]) * temp)
        self.momentum = momentum
        self.pairs = []
        for name in ("visual_encoder", "text_encoder", "vision_proj", "text_proj"):
            m = copy.deepcopy(getattr(self, name))
            for p in m.parameters():
                p.requires_grad = False
            setattr(self, name + "_m", m)
            self.pairs.append((getattr(self, name), m))
        self.register_buffer("image_queue", F.normalize(torch.randn(embed, queue), dim=0))
        self.register_buffer("text_queue", F.normalize(torch.randn(embed, queue), dim=0))
        self.ptr = 0

    @torch.no_grad()
    def momentum_update(self):
        for model, model_m in self.pairs:
            for p, pm in zip(model.parameters(), model_m.parameters()):
                pm.data = pm.data * self.momentum + p.data * (1.0 - self.momentum)

    def forward(self, image, ids, mask, alpha, mask_id=103, pad_id=0, cls_id=101, mlm_p=0.15):
        with torch.no_grad():
            self.temp.clamp_(0.001, 0.5)
        bs = image.shape[0]
        image_embeds = self.visual_encoder(image)
        image_feat = F.normalize(self.vision_proj(image_embeds[:, 0]), dim=-1)
        text_embeds = self.text_encoder.encode_text(ids, mask)
        text_feat = F.normalize(self.text_proj(text_embeds[:, 0]), dim=-1)
        with torch.no_grad():
            self.momentum_update()
            image_embeds_m = self.visual_encoder_m(image)
            image_feat_m = F.normalize(self.vision_proj_m(image_embeds_m[:, 0]), dim=-1)
            image_all = torch.cat([image_feat_m.t(), self.image_queue.clone()], dim=1)
            text_feat_m = F.normalize(self.text_proj_m(self.text_encoder_m.encode_text(ids, mask)[:, 0]), dim=-1)
            text_all = torch.cat([text_feat_m.t(), self.text_queue.clone()], dim=1)
            targets = torch.zeros(bs, image_all.shape[1])
            targets.fill_diagonal_(1)
            i2t_targets = alpha * F.softmax(image_feat_m @ text_all / self.temp, dim=1) + (1 - alpha) * targets
            t2i_targets = alpha * F.softmax(text_feat_m @ image_all / self.temp, dim=1) + (1 - alpha) * targets
        sim_i2t = image_feat @ text_all / self.temp
        sim_t2i = text_feat @ image_all / self.temp
        loss_itc = (-(F.log_softmax(sim_i2t, dim=1) * i2t_targets).sum(1).mean() - (F.log_softmax(sim_t2i, dim=1) * t2i_targets).sum(1).mean()) / 2
        with torch.no_grad():
            q = self.image_queue.shape[1]
            self.image_queue[:, self.ptr : self.ptr + bs] = image_feat_m.T
            self.text_queue[:, self.ptr : self.ptr + bs] = text_feat_m.T
            self.ptr = (self.ptr + bs) % q
        # ITM: the positive pairs, then a hard negative image per text and text per image
        out_pos = self.text_encoder.fuse(text_embeds, mask, image_embeds)
        with torch.no_grad():
            w_i2t = F.softmax(sim_i2t[:, :bs], dim=1)
            w_t2i = F.softmax(sim_t2i[:, :bs], dim=1)
            w_i2t.fill_diagonal_(0)
            w_t2i.fill_diagonal_(0)
        neg_img = torch.stack([image_embeds[torch.multinomial(w_t2i[b], 1).item()] for b in range(bs)])
        neg_txt_idx = [torch.multinomial(w_i2t[b], 1).item() for b in range(bs)]
        text_all_e = torch.cat([text_embeds, text_embeds[neg_txt_idx]], dim=0)
        mask_all = torch.cat([mask, mask[neg_txt_idx]], dim=0)
        out_neg = self.text_encoder.fuse(text_all_e, mask_all, torch.cat([neg_img, image_embeds], dim=0))
        logits = self.itm_head(torch.cat([out_pos[:, 0], out_neg[:, 0]], dim=0))
        labels = torch.cat([torch.ones(bs, dtype=torch.long), torch.zeros(2 * bs, dtype=torch.long)])
        loss_itm = F.cross_entropy(logits, labels)
        # MLM with the momentum model's soft labels
        input_ids = ids.clone()
        mlm_labels = ids.clone()
        masked = torch.bernoulli(torch.full(ids.shape, mlm_p)).bool()
        masked[ids == pad_id] = False
        masked[ids == cls_id] = False
        mlm_labels[~masked] = -100
        replaced = torch.bernoulli(torch.full(ids.shape, 0.8)).bool() & masked
        input_ids[replaced] = mask_id
        rand = torch.bernoulli(torch.full(ids.shape, 0.5)).bool() & masked & ~replaced
        input_ids[rand] = torch.randint(30522, ids.shape)[rand]
        with torch.no_grad():
            te_m = self.text_encoder_m
            logits_m = te_m.mlm_logits(te_m.fuse(te_m.encode_text(input_ids, mask), mask, image_embeds_m))
        te = self.text_encoder
        pred = te.mlm_logits(te.fuse(te.encode_text(input_ids, mask), mask, image_embeds))
        ce = F.cross_entropy(pred.view(-1, pred.shape[-1]), mlm_labels.view(-1))
        distill = -(F.log_softmax(pred, dim=-1) * F.softmax(logits_m, dim=-1)).sum(-1)
        distill = distill[mlm_labels != -100].mean()
        loss_mlm = (1 - alpha) * ce + alpha * distill
        return loss_mlm + loss_itc + loss_itm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--queue", type=int, default=256)
    ap.add_argument("--image", type=int, default=256)
    ap.add_argument("--length", type=int, default=25)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Albef(args.image, args.queue)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.02)
    b, n = args.batch, args.length
    image = torch.randn(b, 3, args.image, args.image)
    ids = torch.tensor([[101 if j == 0 else 1000 + (i * n + j) % 50 for j in range(n)] for i in range(b)])
    mask = torch.ones(b, n, dtype=torch.long)
    times = []
    for i in range(args.steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(image, ids, mask, alpha=0.4)
        loss.backward()
        opt.step()
        if i > 0:
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(
        json.dumps(
            {
                "ms_per_step": times[len(times) // 2],
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "params": sum(p.numel() for p in params),
                "batch": b,
                "threads": args.threads,
            }
        )
    )


if __name__ == "__main__":
    main()
