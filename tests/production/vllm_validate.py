"""Runs in the vLLM venv (.venv-production/vllm): what vLLM's OpenAI server does with a chat request body before
any model runs. One JSON body per stdin line; one JSON verdict per stdout line:

    {"ok": true, "structured_json": <schema vLLM will constrain decoding to>, "max_tokens": .., "temperature": ..,
     "seed": ..}   or   {"ok": false, "error": "<what vLLM's 400 response would say>"}
"""

from __future__ import annotations

import json
import sys
from typing import Any


def verdict(body: dict[str, Any]) -> dict[str, Any]:
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

    try:
        request = ChatCompletionRequest.model_validate(body)
        params = request.to_sampling_params(max_tokens=body.get("max_tokens", 512), default_sampling_params={})
    except Exception as exc:  # vLLM answers any of these with HTTP 400
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    structured = params.structured_outputs
    schema = None if structured is None else structured.json
    return {
        "ok": True,
        "structured_json": json.loads(schema) if isinstance(schema, str) else schema,
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "seed": params.seed,
    }


def main() -> int:
    for line in sys.stdin:
        sys.stdout.write(json.dumps(verdict(json.loads(line))) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
