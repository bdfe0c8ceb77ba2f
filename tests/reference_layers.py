"""Straightforward numpy transformer layers: the oracle the layer cascades are checked against.

Written the way a model implementation reads (normalise, project, rotate, attend over the cache,
project, add; FFN; residual), with no Einsum machinery, so a mistake in the cascade builders cannot
hide in both.
"""
from __future__ import annotations

import math

import numpy as np

EPS = 1e-5


def rmsnorm(x, w):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + EPS) * w


def layernorm(x, w, b):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


def act(name, x):
    if name == "silu":
        return x / (1 + np.exp(-x))
    if name == "relu":
        return np.maximum(x, 0)
    if name == "gelu_new":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def rotate(x, pos, rot, base=10000.0):
    """HF rotate-half RoPE on the first `rot` dims of the last axis; x [t, ..., e], pos [t]."""
    half = rot // 2
    inv = base ** (-np.arange(half) * 2.0 / rot)
    ang = pos[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, axis=1)
    sin = np.concatenate([np.sin(ang)] * 2, axis=1)
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (rot,)
    xr = x[..., :rot]
    x1, x2 = xr[..., :half], xr[..., half:]
    rotated = np.concatenate([-x2, x1], axis=-1)
    out = x.copy()
    out[..., :rot] = xr * cos.reshape(shape) + rotated * sin.reshape(shape)
    return out


def norm(cfg, w, x, tag):
    return rmsnorm(x, w[f"{tag}_W"]) if cfg.norm == "rmsnorm" else layernorm(x, w[f"{tag}_W"], w[f"{tag}_B"])


def lin(cfg, w, x, name, contract):
    y = np.tensordot(x, w[name], axes=contract)
    if cfg.bias and f"{name}_B" in w:
        y = y + w[f"{name}_B"]
    return y


def attention(cfg, w, xn, requests, pos, past, causal=True):
    """requests: list of (new tokens, context); past[r] = (K [H,E,ctx-new], V [H,E,ctx-new]).

    Causal: new token i of a request sees the cache and the new tokens up to itself; otherwise all.
    """
    H, E = cfg.kv_heads, cfg.head_dim
    G = cfg.heads // H
    q = lin(cfg, w, xn, "WQ", 1).reshape(len(xn), H, G, E)
    k = lin(cfg, w, xn, "WK", 1)
    v = lin(cfg, w, xn, "WV", 1)
    if cfg.position == "rope":
        rot = cfg.rotary_dim or E
        q, k = rotate(q, pos, rot), rotate(k, pos, rot)
    out = np.zeros((len(xn), H, G, E))
    t0 = 0
    for r, (n, ctx) in enumerate(requests):
        pk, pv = past[r]
        keys = np.concatenate([pk, k[t0:t0 + n].transpose(1, 2, 0)], axis=2)     # [H,E,ctx]
        vals = np.concatenate([pv, v[t0:t0 + n].transpose(1, 2, 0)], axis=2)
        for i in range(n):
            visible = ctx - n + i + 1 if causal else ctx
            s = np.einsum("hge,hem->hgm", q[t0 + i], keys[:, :, :visible]) / math.sqrt(E)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s = s / s.sum(axis=-1, keepdims=True)
            out[t0 + i] = np.einsum("hgm,hfm->hgf", s, vals[:, :, :visible])
        t0 += n
    wo = w["WO"].reshape(H * G * E, cfg.hidden)
    y = out.reshape(len(xn), -1) @ wo
    return y + w["WO_B"] if cfg.bias else y


def ffn(cfg, w, x):
    if cfg.ffn_type == "gated":
        h = act(cfg.activation, lin(cfg, w, x, "WG", 1)) * lin(cfg, w, x, "WU", 1)
    else:
        h = act(cfg.activation, lin(cfg, w, x, "WU", 1))
    return lin(cfg, w, h, "WD", 1)


def moe(cfg, w, x, routing):
    """Softmax over each token's top-k router logits, experts' FFNs, weighted sum."""
    logits = x @ w["WR"]
    y = np.zeros_like(x)
    for t in range(len(x)):
        chosen = routing[t]
        g = np.exp(logits[t, chosen] - logits[t, chosen].max())
        g = g / g.sum()
        for gate, j in zip(g, chosen):
            if cfg.expert_ffn_kind == "gated":
                h = act(cfg.activation, x[t] @ w["WG_E"][j]) * (x[t] @ w["WU_E"][j])
            else:
                h = act(cfg.activation, x[t] @ w["WU_E"][j])
            y[t] += gate * (h @ w["WD_E"][j])
    return y


def layer(cfg, w, x, requests, pos, past, routing=None, causal=True):
    mix = (lambda h: moe(cfg, w, h, routing)) if routing is not None else (lambda h: ffn(cfg, w, h))

    def att(h):
        return attention(cfg, w, h, requests, pos, past, causal)
    if cfg.parallel_block:
        xn = norm(cfg, w, x, "LN1")
        return x + att(xn) + mix(xn)
    if cfg.norm_placement == "post":
        h = norm(cfg, w, x + att(x), "LN1")
        return norm(cfg, w, h + mix(h), "LN2")
    if cfg.norm_placement == "sandwich":
        h = x + norm(cfg, w, att(norm(cfg, w, x, "LN1")), "LN1P")
        return h + norm(cfg, w, mix(norm(cfg, w, h, "LN2")), "LN2P")
    h = x + att(norm(cfg, w, x, "LN1"))
    return h + mix(norm(cfg, w, h, "LN2"))
