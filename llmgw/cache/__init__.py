"""The response cache: tenant-scoped exact and semantic answers, served in any format."""
