"""Tasks: the schema every component reads, the token unit, and the dataset builders."""

from tinker_explorer.data.schema import SCHEMA_VERSION, Chunk, Task, load_tasks, save_tasks
from tinker_explorer.data.tokens import count_tokens, first_tokens, tokenize

__all__ = ["SCHEMA_VERSION", "Chunk", "Task", "load_tasks", "save_tasks", "count_tokens", "first_tokens", "tokenize"]
