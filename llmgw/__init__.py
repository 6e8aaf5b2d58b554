"""llmgw: a multi-tenant LLM gateway."""

__version__ = "0.1.0"
