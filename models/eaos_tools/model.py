"""Reference EAOS architecture (TorchScript-scriptable).

token embedding + learned position embedding -> N pre-LayerNorm Transformer encoder layers
(hand-written multi-head self-attention with padded keys masked out, GELU feed-forward)
-> final LayerNorm -> three token-level linear heads:

    span_logits       [B, T, len(span_labels)]   BIO over ENT/OPI
    aspect_logits     [B, T, len(aspects)]
    sentiment_logits  [B, T, len(sentiments)]

Nothing here assumes a size: the same classes build the tiny demo (hidden 128, 2 layers) and a
base-size model (hidden 768, 12 layers, 12 heads, ffn 3072).

Padding never changes an answer: padded *keys* get an additive bias of -1e4 (computed in float32),
so exp() of their scores underflows to exactly 0 and real positions see only real positions.
"""

import math
from dataclasses import asdict, dataclass
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import ASPECTS, SENTIMENTS, SPAN_LABELS


@dataclass
class EAOSConfig:
    vocab_size: int = 4000
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    ffn: int = 256
    max_length: int = 128
    dropout: float = 0.1
    num_span_labels: int = len(SPAN_LABELS)
    num_aspects: int = len(ASPECTS)
    num_sentiments: int = len(SENTIMENTS)
    layer_norm_eps: float = 1e-5

    def to_dict(self) -> Dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Dict) -> "EAOSConfig":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def base(cls, vocab_size: int, max_length: int = 256) -> "EAOSConfig":
        return cls(vocab_size=vocab_size, hidden=768, layers=12, heads=12, ffn=3072,
                   max_length=max_length, dropout=0.1)


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        if hidden % heads != 0:
            raise ValueError("hidden (%d) must be divisible by heads (%d)" % (hidden, heads))
        self.heads = heads
        self.head_dim = hidden // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
        # x: [B, T, H]; key_bias: [B, 1, 1, T] float32 (0 for real keys, -1e4 for padding)
        b, t, h = x.size(0), x.size(1), x.size(2)
        qkv = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, heads, T, d]
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        scores = scores.float() + key_bias
        probs = torch.softmax(scores, dim=-1).to(v.dtype)
        probs = self.drop(probs)
        ctx = torch.matmul(probs, v)  # [B, heads, T, d]
        ctx = ctx.transpose(1, 2).reshape(b, t, h)
        return self.out(ctx)


class EncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int, dropout: float, eps: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(hidden, eps=eps)
        self.attn = SelfAttention(hidden, heads, dropout)
        self.ln2 = nn.LayerNorm(hidden, eps=eps)
        self.fc1 = nn.Linear(hidden, ffn)
        self.fc2 = nn.Linear(ffn, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x), key_bias))
        y = self.fc2(self.drop(F.gelu(self.fc1(self.ln2(x)))))
        return x + self.drop(y)


class EAOSModel(nn.Module):
    def __init__(self, cfg: EAOSConfig):
        super().__init__()
        self.max_length = cfg.max_length
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.hidden)
        self.pos_emb = nn.Embedding(cfg.max_length, cfg.hidden)
        self.emb_drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList([
            EncoderLayer(cfg.hidden, cfg.heads, cfg.ffn, cfg.dropout, cfg.layer_norm_eps)
            for _ in range(cfg.layers)
        ])
        self.ln_f = nn.LayerNorm(cfg.hidden, eps=cfg.layer_norm_eps)
        self.head_drop = nn.Dropout(cfg.dropout)
        self.span_head = nn.Linear(cfg.hidden, cfg.num_span_labels)
        self.aspect_head = nn.Linear(cfg.hidden, cfg.num_aspects)
        self.sentiment_head = nn.Linear(cfg.hidden, cfg.num_sentiments)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        t = input_ids.size(1)
        positions = torch.arange(t, device=input_ids.device).unsqueeze(0)
        x = self.tok_emb(input_ids) + self.pos_emb(positions)
        x = self.emb_drop(x)
        key_bias = (1.0 - attention_mask.to(torch.float32)).unsqueeze(1).unsqueeze(2) * -10000.0
        for layer in self.layers:
            x = layer(x, key_bias)
        x = self.head_drop(self.ln_f(x))
        out: Dict[str, torch.Tensor] = {
            "span_logits": self.span_head(x).float(),
            "aspect_logits": self.aspect_head(x).float(),
            "sentiment_logits": self.sentiment_head(x).float(),
        }
        return out


def export_torchscript(model: EAOSModel, path: str) -> None:
    """Scripts the model in eval mode on CPU/float32 and saves it with torch.jit.save."""
    model = model.to("cpu").float().eval()
    scripted = torch.jit.script(model)
    torch.jit.save(scripted, path)


INT8_FILE = "model.int8.pt"


def int8_engine() -> str:
    """The quantized engine int8 models are packed for: oneDNN on x86 when LibTorch has it (the
    server picks the same one, server/runtime/torch_model.cc), else FBGEMM, else QNNPACK."""
    engines = torch.backends.quantized.supported_engines
    for name in ("onednn", "x86", "fbgemm", "qnnpack"):
        if name in engines:
            return name
    raise RuntimeError("this torch has no quantized engine (supported: %s)" % engines)


def export_int8(model: torch.nn.Module, path: str) -> None:
    """Dynamic int8 quantization of every nn.Linear (weights int8 per tensor, activations
    quantized per batch at run time), scripted and saved like export_torchscript."""
    import copy
    torch.backends.quantized.engine = int8_engine()
    quantized = torch.quantization.quantize_dynamic(
        copy.deepcopy(model).to("cpu").float().eval(), {torch.nn.Linear}, dtype=torch.qint8)
    torch.jit.save(torch.jit.script(quantized), path)
