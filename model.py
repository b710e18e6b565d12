"""The Llama-family transformer, read bottom-up: config, tokenizer, norm, RoPE, attention, MLP, block, model,
then loading and saving Hugging Face checkpoints. Module names equal the HF tensor names, so a checkpoint loads
with load_state_dict(strict=True) and no mapping table."""
import argparse
import os
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

from lib import hf
from lib.cli import cli, parse


# ----------------------------------------------------------------------------------------------- config
@dataclass
class Config:
    """Field names are the keys of HF config.json (LlamaForCausalLM / MistralForCausalLM), read verbatim."""
    hidden_size: int = 256
    intermediate_size: int = 688
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = None      # None means no GQA (as many KV heads as query heads)
    head_dim: int = None                 # None means hidden_size // num_attention_heads
    vocab_size: int = 32000
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = False
    bos_token_id: int = 1
    eos_token_id: int = 2
    torch_dtype: str = "float32"
    sliding_window: int = None           # Mistral; fine as long as no sequence is longer than the window
    architectures: tuple = ("LlamaForCausalLM",)

    def __post_init__(self):
        self.num_key_value_heads = self.num_key_value_heads or self.num_attention_heads
        self.head_dim = self.head_dim or self.hidden_size // self.num_attention_heads
        self.architectures = tuple(self.architectures)


def read_config(path):
    """The Config of an HF config.json; anything this model does not support is a one-line error."""
    return hf.read_config(path, Config)


# -------------------------------------------------------------------------------------------- tokenizer
class Tokenizer:
    """SentencePiece, as Llama uses it. encode() adds no BOS/EOS; encode_next() encodes text that follows a
    newline, without the dummy '▁' SentencePiece puts in front of every string: the ids of a chat text built
    piece by piece then equal the whole text's."""

    def __init__(self, path, config=None):
        # The file's absolute path: a save copies it, wherever the working directory has gone.
        self.sp, self.path = hf.read_tokenizer(path, config)
        self.bos_id, self.eos_id, self.vocab_size = self.sp.bos_id(), self.sp.eos_id(), self.sp.vocab_size()
        self._nl = self.sp.encode("\n")          # [▁, <0x0A>] with the Llama tokenizer

    def encode(self, text, bos=False, eos=False):
        return [self.bos_id] * bos + self.sp.encode(text) + [self.eos_id] * eos

    def encode_next(self, text):
        """Ids of `text` as they come in a longer text right after a newline (no piece spans a newline)."""
        ids = self.sp.encode("\n" + text)
        assert ids[:len(self._nl)] == self._nl, "this tokenizer merges newlines into pieces"
        return ids[len(self._nl):]

    def decode(self, ids):
        return self.sp.decode(list(ids))

    def piece_id(self, piece):
        """The id of a piece string, or None if the vocabulary lacks it."""
        i = self.sp.piece_to_id(piece)
        return i if self.sp.id_to_piece(i) == piece else None

    def piece(self, i):
        return self.sp.id_to_piece(i)


# -------------------------------------------------------------------------------------------- the model
class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(dim))

    def forward(self, x):                                       # normalise in fp32, as HF does
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rope(pos, head_dim, theta, dtype):
    """cos, sin [B, 1, T, head_dim] for positions pos [B, T], in HF's rotate-half layout (q/k load
    unpermuted)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=pos.device).float() / head_dim)
    ang = pos[..., None].float() * inv_freq                     # [B, T, head_dim/2]
    ang = torch.cat([ang, ang], dim=-1)[:, None]
    return ang.cos().to(dtype), ang.sin().to(dtype)


def rotate(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


def attention_mask(q_pos, k_pos, pad):
    """[B, 1, T, S] bool, True where a query may attend: keys at or before it (causal) and outside its row's
    left padding (pad [B] tokens). A padding query sees itself, so no row of the softmax is all -inf.
    q_pos [T] and k_pos [S] are positions in the padded sequence."""
    causal = k_pos <= q_pos[:, None]                            # [T, S]
    real = k_pos >= pad[:, None, None]                          # [B, 1, S]
    return ((causal & real) | (k_pos == q_pos[:, None]))[:, None]


class Attention(nn.Module):
    def __init__(self, c: Config, layer_idx):
        super().__init__()
        self.layer_idx = layer_idx                              # which of the KV cache's buffers are this layer's
        self.nh, self.nkv, self.hd = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.q_proj = nn.Linear(c.hidden_size, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(c.hidden_size, self.nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(c.hidden_size, self.nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, cache):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)     # [B, nh, T, hd]
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)    # [B, nkv, T, hd]
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        if cache is not None:                       # store this step's keys and values, attend to all so far
            k, v = cache.update(self.layer_idx, k, v)
        # GQA: each KV head serves nh/nkv query heads, without copying them
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None,
                                           enable_gqa=self.nkv != self.nh)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.nh * self.hd))


class MLP(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):                                       # SwiGLU
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, c: Config, layer_idx):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c, layer_idx)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, mask, cache):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):                                      # HF's `model.` prefix
    def __init__(self, c: Config):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(Block(c, i) for i in range(c.num_hidden_layers))
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)


class KVCache:
    """Keys and values [B, nkv, max_len, hd] per layer, preallocated, as in gpt-fast; `pos`, the position of the
    next token; `pad` [B], each row's left padding. A forward of T tokens asks step(T) once for their
    positions and mask, then each layer stores its keys and values with update(). One forward serves the
    prefill (T = prompt length) and each decoding step (T = 1)."""

    def __init__(self, model, batch, max_len, pad=None):
        c, p = model.config, next(model.parameters())
        shape = (batch, c.num_key_value_heads, max_len, c.head_dim)
        self.k = [torch.zeros(shape, dtype=p.dtype, device=p.device) for _ in range(c.num_hidden_layers)]
        self.v = [torch.zeros(shape, dtype=p.dtype, device=p.device) for _ in range(c.num_hidden_layers)]
        self.pos, self.max_len = 0, max_len
        self.pad = pad if pad is not None else torch.zeros(batch, dtype=torch.long, device=p.device)
        # [B, 1, 1, max_len]: the keys that are not padding, which is all a one-token step must mask
        self.real = (torch.arange(max_len, device=p.device) >= self.pad[:, None])[:, None, None]

    def step(self, T):
        """RoPE positions [B, T] (each row's real tokens count from 0) and the mask [B, 1, T, pos + T] of the
        next T tokens; advances pos past them."""
        if self.pos + T > self.max_len:
            raise ValueError(f"KV cache holds {self.max_len} tokens, {self.pos + T} needed")
        # >>> assignment 3: the KV cache
        q_pos = torch.arange(self.pos, self.pos + T, device=self.pad.device)
        self.pos += T
        if T == 1:                                  # every stored key is at or before the new token
            mask = self.real[..., :self.pos]
        else:
            mask = attention_mask(q_pos, torch.arange(self.pos, device=q_pos.device), self.pad)
        return (q_pos - self.pad[:, None]).clamp(min=0), mask
        # <<< assignment 3

    def update(self, layer, k, v):
        """Store the T new keys and values [B, nkv, T, hd] of `layer` at positions pos - T .. pos; return the
        layer's keys and values so far [B, nkv, pos, hd]."""
        # >>> assignment 3: the KV cache
        start = self.pos - k.shape[2]
        self.k[layer][:, :, start:self.pos], self.v[layer][:, :, start:self.pos] = k, v
        return self.k[layer][:, :, :self.pos], self.v[layer][:, :, :self.pos]
        # <<< assignment 3


class Transformer(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.model = Backbone(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, input_ids=None, embeds=None, cache=None, pad=None, last=False):
        """Logits [B, T, V] for input_ids [B, T] (or input embeddings [B, T, D]); only the last position's
        [B, 1, V] with `last`. With `cache`, the tokens continue the cached ones, and the cache knows each row's
        left padding; without one, `pad` [B] counts it (None: no padding)."""
        x = self.model.embed_tokens(input_ids) if embeds is None else embeds
        B, T, _ = x.shape
        if cache is not None:
            if pad is not None:
                raise ValueError("with a cache the padding is the cache's: KVCache(..., pad=pad)")
            pos, mask = cache.step(T)
        elif pad is None:                                       # mask None: plain causal attention (is_causal)
            pos, mask = torch.arange(T, device=x.device)[None], None
        else:                                                   # each row's real tokens count from 0
            q_pos = torch.arange(T, device=x.device)
            pos, mask = (q_pos - pad[:, None]).clamp(min=0), attention_mask(q_pos, q_pos, pad)
        window = self.config.sliding_window
        if window and (cache.pos if cache is not None else T) > window:
            raise ValueError(f"more than sliding_window={window} tokens, which is not implemented")
        cos, sin = rope(pos, self.config.head_dim, self.config.rope_theta, x.dtype)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask, cache)
        if last:
            x = x[:, -1:]
        return self.lm_head(self.model.norm(x))

    # ------------------------------------------------------------------------------- load and save (HF)
    @classmethod
    def from_pretrained(cls, path, dtype=None, device="cpu"):
        """Load an HF checkpoint directory (model.safetensors, or shards with model.safetensors.index.json).
        Built on the meta device and filled with the loaded tensors (assign=True): no second copy in memory."""
        hf.check_checkpoint(path, device)
        config = read_config(os.path.join(path, "config.json"))
        dtype = dtype or getattr(torch, config.torch_dtype or "float32")
        with torch.device("meta"):
            model = cls(config)
        shapes = {k: v.shape for k, v in model.state_dict().items()}
        tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
        sd = hf.read_tensors(path, hf.shard_files(path), shapes, dtype, device, optional=tied)
        if tied:                                                # lm_head shares the embedding
            sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
        model.load_state_dict(sd, strict=True, assign=True)
        if tied:                                                # assign=True made two Parameters: tie again
            model.lm_head.weight = model.model.embed_tokens.weight
        return model.eval()

    def save_pretrained(self, path, tokenizer=None, max_shard_bytes=2 * 2**30, extra=None):
        """Write an HF checkpoint that transformers and vLLM load unchanged: config.json, tokenizer.model and
        model.safetensors (sharded with an index above max_shard_bytes); `extra(folder)` may add files (train.py's
        state.pt). Swapped in whole: a crash at any instant leaves a whole checkpoint."""
        sd = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        if self.config.tie_word_embeddings:
            sd.pop("lm_head.weight")
        cfg = hf.config_json(asdict(self.config), next(self.parameters()).dtype)
        hf.write_checkpoint(path, cfg, sd, tokenizer, max_shard_bytes, extra)

    def num_params(self):
        return sum(p.numel() for p in self.parameters())


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check a checkpoint; continue --text greedily (no chat format).")
    ap.add_argument("checkpoint", help="HF checkpoint directory (config.json, tokenizer.model, safetensors)")
    ap.add_argument("--text", help="text to continue greedily with the KV cache")
    ap.add_argument("--max-new-tokens", type=int, default=32, help="tokens to generate after --text")
    args = parse(ap, argv)
    model, tok = Transformer.from_pretrained(args.checkpoint), Tokenizer(args.checkpoint)
    print(f"{args.checkpoint}: {model.num_params() / 1e6:.2f}M parameters, {model.config}")
    if args.text is not None:
        ids = tok.encode(args.text, bos=True)
        cache, x = KVCache(model, 1, len(ids) + args.max_new_tokens), torch.tensor([ids])
        with torch.no_grad():
            while len(ids) < cache.max_len and ids[-1] != tok.eos_id:
                ids.append(model(x, cache=cache)[0, -1].argmax().item())
                x = torch.tensor([ids[-1:]])
        print(tok.decode(ids))          # the whole text: SentencePiece decodes a piece's space in context


if __name__ == "__main__":
    cli(main)
