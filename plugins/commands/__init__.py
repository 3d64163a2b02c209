"""Built-in command plugins: ``vadbench relevancy``."""
