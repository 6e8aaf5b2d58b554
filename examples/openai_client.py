"""Call llmgw with the official OpenAI SDK: a plain answer, a stream, and a tool call.

    llmgw serve                       # prints a demo key
    export LLMGW_API_KEY=sk-llmgw-...  # the printed key
    python examples/openai_client.py

LLMGW_BASE_URL defaults to http://127.0.0.1:8080/v1 and LLMGW_MODEL to mock-small.
"""

from __future__ import annotations

import json
import os
import sys

from openai import OpenAI

base_url = os.environ.get("LLMGW_BASE_URL", "http://127.0.0.1:8080/v1")
api_key = os.environ.get("LLMGW_API_KEY")
model = os.environ.get("LLMGW_MODEL", "mock-small")
if not api_key:
    sys.exit("set LLMGW_API_KEY to a key printed by `llmgw serve` or made by `llmgw keys create`")

client = OpenAI(base_url=base_url, api_key=api_key)

# 1. A plain call. The x-llmgw-* headers say which provider and model served it.
raw = client.chat.completions.with_raw_response.create(
    model=model, messages=[{"role": "user", "content": "Say hello in five words."}]
)
answer = raw.parse()
print("answer:", answer.choices[0].message.content)
print("served by:", raw.headers["x-llmgw-provider"], raw.headers["x-llmgw-model"])
print("request id:", raw.headers["x-request-id"], "(see it with: llmgw audit show ID)")

# 2. A stream, with usage in the last chunk.
print("stream:", end=" ")
for chunk in client.chat.completions.create(
    model=model,
    messages=[{"role": "user", "content": "Count to five."}],
    stream=True,
    stream_options={"include_usage": True},
):
    for choice in chunk.choices:
        print(choice.delta.content or "", end="", flush=True)
    if chunk.usage:
        print(f"\nusage: {chunk.usage.prompt_tokens} in, {chunk.usage.completion_tokens} out")

# 3. A tool call.
tool = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
reply = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[tool]
)
for call in reply.choices[0].message.tool_calls or []:
    print("tool call:", call.function.name, json.loads(call.function.arguments))
