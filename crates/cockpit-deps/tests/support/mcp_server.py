"""An MCP server built with the official Python SDK (PyPI `mcp`, 2.x:
`MCPServer`), for cockpit-deps's tests: two tools, stdio by default,
Streamable HTTP at /mcp with `--http PORT` (127.0.0.1 only)."""

import sys

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("cockpit-test-tools", version="1.2.3")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@mcp.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--http":
        mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        mcp.run()
