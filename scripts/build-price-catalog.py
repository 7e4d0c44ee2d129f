#!/usr/bin/env python3
"""Builds catalog/price-catalog.json from LiteLLM's model price catalogue.

Usage: scripts/build-price-catalog.py [LITELLM_JSON] > catalog/price-catalog.json
(default input: ../shared/data/real/litellm_model_prices_and_context_window.json)

LiteLLM prices Bedrock per single token as JSON floats. Each float is converted
exactly through its shortest repr (Decimal(repr(x))) and scaled to per-1K tokens,
so no binary-float error reaches the catalogue. The CUR model token (the middle
of a usage type such as USE1-Claude3Haiku-input-tokens) and the CUR product
model name are not in LiteLLM: they come from the curated table below, one row
per model seen in real CUR data (shared/data/real/compiled/bedrock_usage_types_observed.csv).

Prices differ by how a call is routed and where: a geography's system profile
(`eu.`, `jp.`, `us-gov.`, …) can cost more than the in-region model, and some
regions (GovCloud, some in Europe and Asia) have their own prices. LiteLLM has
those as `{geo}.{model_id}` and `bedrock/{region}/{model_id}` entries; the
catalogue keeps the ones that differ from the base price, under
`profile_prices` and `region_prices`, so an invocation is priced where it ran.
"""
import json
import sys
from decimal import Decimal
from pathlib import Path

GEOS = ["us", "eu", "apac", "global", "jp", "au", "us-gov", "ca"]

# cur_model_token, Bedrock model id, CUR product['model'], provider, family
MODELS = [
    ("Claude2.0", "anthropic.claude-v2:1", "Claude 2.0", "anthropic", "claude"),
    ("Claude3Haiku", "anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku", "anthropic", "claude"),
    ("Claude3-5Haiku", "anthropic.claude-3-5-haiku-20241022-v1:0", "Claude 3.5 Haiku", "anthropic", "claude"),
    ("Claude4Sonnet", "anthropic.claude-sonnet-4-20250514-v1:0", "Claude Sonnet 4", "anthropic", "claude"),
    ("Claude4.5Sonnet", "anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude Sonnet 4.5", "anthropic", "claude"),
    ("Claude4.6Sonnet", "anthropic.claude-sonnet-4-6", "Claude Sonnet 4.6", "anthropic", "claude"),
    ("Claude4.6Opus", "anthropic.claude-opus-4-6-v1", "Claude Opus 4.6", "anthropic", "claude"),
    ("Llama3-1-405B", "meta.llama3-1-405b-instruct-v1:0", "Llama 3.1 405B Instruct", "meta", "llama"),
    ("Mistral7B", "mistral.mistral-7b-instruct-v0:2", "Mistral 7B", "mistral", "mistral"),
    ("MistralLarge", "mistral.mistral-large-2402-v1:0", "Mistral Large", "mistral", "mistral"),
    ("Mixtral8x7B", "mistral.mixtral-8x7b-instruct-v0:1", "Mixtral 8x7B", "mistral", "mistral"),
    ("NovaMicro", "amazon.nova-micro-v1:0", "Nova Micro", "amazon", "nova"),
    ("NovaLite", "amazon.nova-lite-v1:0", "Nova Lite", "amazon", "nova"),
    ("NovaPro", "amazon.nova-pro-v1:0", "Nova Pro", "amazon", "nova"),
    ("Nova2.0Lite", "amazon.nova-2-lite-v1:0", "Nova 2.0 Lite", "amazon", "nova"),
    ("Nova2.0Pro", "amazon.nova-2-pro-preview-20251202-v1:0", "Nova 2.0 Pro", "amazon", "nova"),
    ("Qwen3-32B", "qwen.qwen3-32b-v1:0", "Qwen3 32B", "qwen", "qwen"),
    ("Qwen3-VL-235B-A22B", "qwen.qwen3-vl-235b-a22b", "Qwen3 VL 235B A22B", "qwen", "qwen"),
    ("Qwen3Coder-30B-A3B", "qwen.qwen3-coder-30b-a3b-v1:0", "Qwen3 Coder 30B A3B", "qwen", "qwen"),
    ("TitanEmbeddingV2-Text", "amazon.titan-embed-text-v2:0", "Titan Text Embeddings V2", "amazon", "embedding"),
    ("openai.gpt-oss-120b", "openai.gpt-oss-120b-1:0", "gpt-oss-120b", "openai", "gpt-oss"),
    ("zai.glm5", "zai.glm-5", "GLM 5", "zai", "glm"),
]

PRICE_FIELDS = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
}


def per_1k(value):
    if value is None:
        return None
    d = Decimal(repr(value)) * 1000
    return format(d.normalize(), "f")


def prices_of(entry):
    prices = {k: per_1k(entry.get(f)) for k, f in PRICE_FIELDS.items()}
    return {k: v for k, v in prices.items() if v is not None}


def differing(data, base, keys):
    """The entries among `keys` whose prices differ from `base`, by their label."""
    out = {}
    for label, key in keys:
        entry = data.get(key)
        if entry is None:
            continue
        p = prices_of(entry)
        # Token types LiteLLM leaves out of a variant keep the base price.
        merged = {**base, **p}
        if merged != base:
            out[label] = merged
    return dict(sorted(out.items()))


def main():
    default = Path(__file__).resolve().parents[2] / "shared/data/real/litellm_model_prices_and_context_window.json"
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    data = json.loads(src.read_text())
    models = []
    for token, model_id, product, provider, family in MODELS:
        entry = data.get(model_id)
        if entry is None:
            sys.exit(f"build-price-catalog: {model_id} is not in {src}")
        base = prices_of(entry)
        regions = sorted({k.split("/")[1] for k in data if k.startswith("bedrock/") and k.endswith("/" + model_id) and k.count("/") == 2})
        models.append({
            "model_id": model_id,
            "cur_model_token": token,
            "product_model": product,
            "provider": provider,
            "family": family,
            "mode": entry.get("mode", "chat"),
            "per_1k_tokens": base,
            "cross_region_geos": [g for g in GEOS if f"{g}.{model_id}" in data],
            "profile_prices": differing(data, base, [(g, f"{g}.{model_id}") for g in GEOS]),
            "region_prices": differing(data, base, [(r, f"bedrock/{r}/{model_id}") for r in regions]),
            "source_key": model_id,
        })
    catalog = {
        "source": "LiteLLM model_prices_and_context_window.json (BerriAI/litellm, MIT)",
        "as_of": str(data.get("last_updated", ""))[:10],
        "currency": "USD",
        "unit": "1K tokens",
        "models": models,
    }
    json.dump(catalog, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
