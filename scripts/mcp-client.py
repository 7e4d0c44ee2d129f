#!/usr/bin/env python3
"""A real MCP client (the `mcp` Python SDK, MCP's official one) driving Agent Bill.

    mcp-client.py stdio  CALLS_JSON -- COMMAND ARGS...   spawn `finops mcp` and talk over stdio
    mcp-client.py http   CALLS_JSON URL [TOKEN]          talk Streamable HTTP to /mcp

CALLS_JSON is a list of [tool, arguments]. Prints one JSON object: the tool
names the server lists, and per call its structured content (or its error
text), so a test can compare the numbers with the HTTP routes'.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def drive(session: ClientSession, calls):
    await session.initialize()
    listed = await session.list_tools()
    out = {"tools": [t.name for t in listed.tools], "schemas": {t.name: t.input_schema for t in listed.tools}, "calls": []}
    for name, args in calls:
        result = await session.call_tool(name, args)
        text = " ".join(c.text for c in result.content if getattr(c, "type", "") == "text")
        out["calls"].append({"tool": name, "is_error": bool(result.is_error), "structured": result.structured_content, "text": text})
    return out


async def main():
    mode, calls = sys.argv[1], json.loads(sys.argv[2])
    if mode == "stdio":
        cmd = sys.argv[sys.argv.index("--") + 1 :]
        params = StdioServerParameters(command=cmd[0], args=cmd[1:])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                out = await drive(session, calls)
    elif mode == "http":
        url = sys.argv[3]
        headers = {"Authorization": f"Bearer {sys.argv[4]}"} if len(sys.argv) > 4 else {}
        async with create_mcp_http_client(headers=headers) as client:
            async with streamable_http_client(url, http_client=client, terminate_on_close=False) as (read, write):
                async with ClientSession(read, write) as session:
                    out = await drive(session, calls)
    else:
        raise SystemExit(f"unknown mode {mode}: stdio or http")
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
