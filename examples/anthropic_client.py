"""Call llmgw with the official Anthropic SDK (Messages API), served by any provider.

    llmgw serve                       # prints a demo key
    export LLMGW_API_KEY=sk-llmgw-...  # the printed key
    python examples/anthropic_client.py

LLMGW_URL defaults to http://127.0.0.1:8080 and LLMGW_MODEL to claude-haiku-4-5 (an alias of
the built-in mock-small model in the embedded default).
"""

from __future__ import annotations

import os
import sys

from anthropic import Anthropic

base_url = os.environ.get("LLMGW_URL", "http://127.0.0.1:8080")
api_key = os.environ.get("LLMGW_API_KEY")
model = os.environ.get("LLMGW_MODEL", "claude-haiku-4-5")
if not api_key:
    sys.exit("set LLMGW_API_KEY to a key printed by `llmgw serve` or made by `llmgw keys create`")

client = Anthropic(base_url=base_url, api_key=api_key)

message = client.messages.create(
    model=model,
    max_tokens=200,
    system="You are terse.",
    messages=[{"role": "user", "content": "Say hello."}],
)
print("answer:", message.content[0].text)
print("usage:", message.usage.input_tokens, "in,", message.usage.output_tokens, "out")

print("stream:", end=" ")
with client.messages.stream(
    model=model, max_tokens=200, messages=[{"role": "user", "content": "Count to five."}]
) as stream:
    for text in stream.text_stream:
        print(text, end="", flush=True)
    final = stream.get_final_message()
print(f"\nstop reason: {final.stop_reason}")
