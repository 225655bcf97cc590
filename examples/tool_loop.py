"""A tool-calling loop for a function-calling LLM API, with the tool schemas taken from the MCP
server (``dydx-router mcp`` over stdio, or ``/mcp`` over HTTP).

The loop is the same whoever decides: ``ChatCompletionsPolicy`` asks an OpenAI-compatible
``/chat/completions`` endpoint (tools given as JSON-schema functions); tests use
``ScriptedPolicy``, a fixed plan that reads each tool result as a model would (no network).
Refusals come back as tool results with the code and what to change, and go back to the policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from mcp.client.session import ClientSession


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]


@dataclass
class Turn:
    call: ToolCall
    ok: bool
    result: Any


class Policy(Protocol):
    async def decide(self, transcript: list[Turn], tools: list[dict[str, Any]]) -> ToolCall | None:
        """The next tool call, or None when done."""


def function_tools(listed: Any) -> list[dict[str, Any]]:
    """MCP tools as the `tools` of a function-calling API (name, description, JSON schema)."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description or "",
                "parameters": tool.input_schema,
            },
        }
        for tool in listed.tools
    ]


async def run_loop(session: ClientSession, policy: Policy, max_turns: int = 30) -> list[Turn]:
    tools = function_tools(await session.list_tools())
    transcript: list[Turn] = []
    for _ in range(max_turns):
        call = await policy.decide(transcript, tools)
        if call is None:
            break
        result = await session.call_tool(call.name, call.arguments)
        text = " ".join(getattr(block, "text", "") for block in result.content)
        payload = text if result.is_error else result.structured_content
        transcript.append(Turn(call, not result.is_error, payload))
    return transcript


@dataclass
class ScriptedPolicy:
    """Buy the smallest size of a market, as a model following the server's instructions would:
    list_markets, preview_order, place_order with the preview's token, get_order until final."""

    market: str = "BTC-USD"
    order: dict[str, Any] = field(default_factory=dict)

    async def decide(self, transcript: list[Turn], tools: list[dict[str, Any]]) -> ToolCall | None:
        if not transcript:
            return ToolCall("list_markets", {})
        last = transcript[-1]
        if not last.ok:
            return None  # a refusal: a model would read it and change course; the script stops
        if last.call.name == "list_markets":
            spec = next(m for m in last.result["markets"] if m["market"] == self.market)
            self.order = {
                "market": self.market, "side": "BUY", "type": "MARKET",
                "size": spec["min_order_size"],
            }  # fmt: skip
            return ToolCall("preview_order", dict(self.order))
        if last.call.name == "preview_order":
            token = last.result["preview_token"]
            reason = "scripted policy: buy the minimum size to test the loop"
            return ToolCall("place_order", {**self.order, "preview_token": token, "reason": reason})
        if last.call.name in {"place_order", "get_order"}:
            if last.result["status"] in {"FILLED", "CANCELED", "EXPIRED", "REJECTED"}:
                return None
            return ToolCall("get_order", {"order_id": last.result["id"]})
        return None


@dataclass
class ChatCompletionsPolicy:
    """A model behind an OpenAI-compatible chat-completions API decides (not run by the tests)."""

    base_url: str
    api_key: str
    model: str
    goal: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    async def decide(self, transcript: list[Turn], tools: list[dict[str, Any]]) -> ToolCall | None:
        if not self.messages:
            self.messages.append({"role": "user", "content": self.goal})
        elif transcript:
            turn = transcript[-1]
            self.messages.append(
                {"role": "tool", "tool_call_id": turn.call.name, "content": json.dumps(turn.result)}
            )
        async with httpx.AsyncClient(timeout=60) as http:
            response = await http.post(
                f"{self.base_url}/chat/completions",
                headers={"Authorization": f"Bearer {self.api_key}"},
                json={"model": self.model, "messages": self.messages, "tools": tools},
            )
            response.raise_for_status()
        message = response.json()["choices"][0]["message"]
        self.messages.append(message)
        calls = message.get("tool_calls") or []
        if not calls:
            return None
        function = calls[0]["function"]
        return ToolCall(function["name"], json.loads(function["arguments"] or "{}"))
