"""An MCP server built with the official Python SDK (PyPI `mcp`), for
cockpit-deps's tests: two tools, stdio by default, Streamable HTTP with
`--http PORT` (127.0.0.1 only)."""

import sys

from mcp.server.fastmcp import FastMCP

port = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--http" else 8000
mcp = FastMCP("cockpit-test-tools", host="127.0.0.1", port=port)


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@mcp.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


if __name__ == "__main__":
    mcp.run(transport="streamable-http" if "--http" in sys.argv else "stdio")
