"""Hugging Face checkpoint files, for model.py: config.json checked against what the model supports, the
SentencePiece tokenizer.model, and the safetensors weights (one file, or shards with an index) read and written,
swapped in whole. Plain dicts and tensors in and out; imports nothing of ours but util."""
import dataclasses
import json
import math
import os
import shutil

import sentencepiece as spm
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from lib.cli import UserError
from lib.files import read_json
from lib.rundir import replace_dir

ARCHITECTURES = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral"}
# Keys that change nothing here, and keys whose only supported value is the one given.
IGNORED_KEYS = {"model_type", "transformers_version", "_name_or_path", "use_cache", "initializer_range",
                "pad_token_id", "output_attentions", "output_hidden_states", "return_dict", "dtype"}
FIXED_KEYS = {"hidden_act": "silu", "attention_bias": False, "mlp_bias": False, "rope_scaling": None,
              "pretraining_tp": 1, "attention_dropout": 0.0}
# Bounds on the sizes, well above any released model's: a typo must not allocate terabytes or build for hours.
SIZES = {"hidden_size": 2**16, "intermediate_size": 2**18, "num_hidden_layers": 2**10, "head_dim": 2**12,
         "num_attention_heads": 2**10, "num_key_value_heads": 2**10, "vocab_size": 2**22,
         "max_position_embeddings": 2**24, "sliding_window": 2**24}
# The other keys the model computes with: positive finite numbers, a flag, the dtypes it loads, token ids.
POSITIVE = ("rms_norm_eps", "rope_theta")
DTYPES = ("float32", "float16", "bfloat16")
TOKEN_IDS = ("bos_token_id", "eos_token_id")


def read_config(path, config):
    """The `config` dataclass (model.Config) of an HF config.json, from the keys that are its fields, every other
    key checked: one that changes nothing is ignored, one whose value the model does not support is a one-line
    error."""
    known = {f.name for f in dataclasses.fields(config)}
    d = read_json(path, "config")
    if not isinstance(d, dict):
        raise UserError(f"{path}: config must be a JSON object, not a {type(d).__name__}")
    if d.get("dtype") and not d.get("torch_dtype"):          # transformers >= 5 writes these two keys
        d["torch_dtype"] = d["dtype"]
    rp = d.pop("rope_parameters", None) or {}
    if rp.get("rope_type", "default") != "default":
        raise UserError(f"{path}: unsupported rope_type {rp['rope_type']!r} (only default RoPE is supported)")
    d.setdefault("rope_theta", rp.get("rope_theta", 10000.0))
    arch = d.get("architectures") or ["LlamaForCausalLM"]
    if len(arch) != 1 or arch[0] not in ARCHITECTURES:
        raise UserError(f"{path}: unsupported architecture {arch}; supported: {sorted(ARCHITECTURES)}")
    for k, v in d.items():
        if k in FIXED_KEYS and v != FIXED_KEYS[k] and not (k == "pretraining_tp" and v is None):
            raise UserError(f"{path}: unsupported {k}={v!r} (only {FIXED_KEYS[k]!r} is supported)")
        if k not in known and k not in IGNORED_KEYS and k not in FIXED_KEYS:
            raise UserError(f"{path}: unsupported config key {k!r}")
        if k in SIZES and v is not None and (type(v) is not int or not 1 <= v <= SIZES[k]):
            raise UserError(f"{path}: {k}={v!r:.30} is not an integer from 1 to {SIZES[k]:,}")
        # A NaN or negative epsilon decodes garbage without an error; a string fails deep in the forward pass.
        if k in POSITIVE and not (type(v) in (int, float) and 0 < v < math.inf):
            raise UserError(f"{path}: {k}={v!r:.30} is not a finite number > 0")
        if k == "torch_dtype" and v is not None and v not in DTYPES:
            raise UserError(f"{path}: torch_dtype={v!r:.30} is not one of {', '.join(DTYPES)}")
        if k == "tie_word_embeddings" and type(v) is not bool:
            raise UserError(f"{path}: tie_word_embeddings={v!r:.30} is not true or false")
    vocab = d.get("vocab_size") or 32000
    for k in TOKEN_IDS:
        if d.get(k) is not None and not (type(d[k]) is int and 0 <= d[k] < vocab):
            raise UserError(f"{path}: {k}={d[k]!r:.30} is not a token id below vocab_size {vocab}")
    try:
        c = config(**{k: v for k, v in d.items() if k in known})
    except TypeError as e:
        raise UserError(f"{path}: {e}")
    if c.num_attention_heads % c.num_key_value_heads or c.head_dim < 2 or c.head_dim % 2:
        raise UserError(f"{path}: need num_attention_heads a multiple of num_key_value_heads and an even "
                        f"head_dim")
    return c


def read_tokenizer(path, config=None):
    """The SentencePiece processor of a tokenizer.model file, or of a checkpoint directory's, and the file's
    absolute path; checked against the vocab_size of the checkpoint's config.json, or of `config`."""
    file = os.path.join(path, "tokenizer.model") if os.path.isdir(path) else path
    if not os.path.isfile(file):
        raise UserError(f"{file}: tokenizer not found")
    sp = spm.SentencePieceProcessor()
    try:
        sp.Load(file)
    except (OSError, RuntimeError) as e:
        raise UserError(f"{file}: not a SentencePiece model ({e})")
    # A checkpoint's tokenizer must fit its model: a larger one encodes ids the model has no row for, a smaller
    # one cannot decode every id the model may choose.
    config = config or os.path.join(path, "config.json")
    if os.path.isfile(config):
        vocab = read_json(config, "an HF config.json").get("vocab_size")
        if isinstance(vocab, int) and vocab != sp.vocab_size():
            raise UserError(f"{file}: {sp.vocab_size()} pieces, but {config} says vocab_size {vocab}: a "
                            "model's tokenizer needs one piece per row of the model")
    return sp, os.path.abspath(file)


def shard_files(path):
    """The safetensors files of a checkpoint directory: model.safetensors, or the shards its index names."""
    index, files = os.path.join(path, "model.safetensors.index.json"), ["model.safetensors"]
    if os.path.isfile(index):
        try:
            files = sorted(set(read_json(index, "shard index")["weight_map"].values()))
        except (KeyError, TypeError, AttributeError) as e:
            raise UserError(f"{index}: cannot read shard index: {e}")
    elif not os.path.isfile(os.path.join(path, files[0])):
        raise UserError(f"{path}: no model.safetensors or model.safetensors.index.json")
    return files


def config_json(config, dtype):
    """The config.json of a model's Config (as a dict) whose weights are of `dtype`."""
    cfg = {k: v for k, v in config.items() if v is not None}
    cfg.update(architectures=list(config["architectures"]), model_type=ARCHITECTURES[config["architectures"][0]],
               hidden_act="silu", torch_dtype=str(dtype).removeprefix("torch."))
    return cfg


def check_checkpoint(path, device):
    """A one-line error for a checkpoint directory that is not there, or a device torch cannot use here (before
    a checkpoint's files get the blame)."""
    if not os.path.isdir(path):
        raise UserError(f"{path}: checkpoint directory not found")
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as e:
        raise UserError(f"device {device!r} is not usable here ({str(e).splitlines()[0]})")


def read_tensors(path, files, expected, dtype, device, optional=()):
    """{name: tensor} of the files, each in `dtype` on `device`, checked against the expected {name: shape}:
    each one there, except those named in `optional`."""
    sd = {}
    for name in files:
        file = os.path.join(path, name)
        try:
            with safe_open(file, framework="pt", device=str(device)) as f:
                for key in f.keys():
                    if key.endswith("rotary_emb.inv_freq"):     # recomputed, never loaded
                        continue
                    if key not in expected:
                        raise UserError(f"{file}: unexpected tensor {key}")
                    t = f.get_tensor(key)
                    if t.shape != expected[key]:
                        raise UserError(f"{file}: tensor {key} has shape {tuple(t.shape)}, "
                                        f"config says {tuple(expected[key])}")
                    sd[key] = t.to(dtype)
        except UserError:
            raise
        except Exception as e:                              # truncated or not safetensors at all
            raise UserError(f"{file}: cannot read safetensors ({type(e).__name__}: {e})")
    missing = sorted(set(expected) - set(sd) - set(optional))
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise UserError(f"{path}: missing tensor {missing[0]}{more}")
    return sd


def write_checkpoint(path, cfg, sd, tokenizer, max_shard_bytes, extra):
    """Write config.json (`cfg`), the tokenizer's model file and the tensors `sd` (sharded with an index above
    max_shard_bytes) to the directory `path`, swapped in whole; `extra(folder)` may add files."""
    # Greedy: a new shard when the next tensor would overflow this one.
    shards, size = [{}], 0
    for k, v in sd.items():
        nbytes = v.numel() * v.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards, size = shards + [{}], 0
        shards[-1][k], size = v, size + nbytes
    names = ["model.safetensors"] if len(shards) == 1 else \
        [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]

    def write(folder):
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        if tokenizer is not None:
            shutil.copyfile(tokenizer.path, os.path.join(folder, "tokenizer.model"))
        for name, shard in zip(names, shards):
            try:
                save_file(shard, os.path.join(folder, name), metadata={"format": "pt"})
            except SafetensorError as e:                # a full disk: one line from replace_dir
                raise OSError(f"{name}: {e}")
        if len(shards) > 1:
            index = {"metadata": {"total_size": sum(v.numel() * v.element_size() for v in sd.values())},
                     "weight_map": {k: name for name, shard in zip(names, shards) for k in shard}}
            with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
                json.dump(index, f, indent=2)
        if extra is not None:
            extra(folder)
    replace_dir(path, write)
