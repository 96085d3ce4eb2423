"""Test helpers that ship with the package: a tiny offline model and a fake OpenAI server."""
