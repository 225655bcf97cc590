"""The MCP server for AI agents: tools over the typed client, guard rails, stdio and HTTP."""
