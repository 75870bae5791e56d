"""Every system prompt of the LLM agent, in one place.

The user turn is the environment's own rendering of the state (``Observation.text``: the
question, chunk previews with their costs, opened texts, notes, status, and the action help
line), so the system prompt only says what the job is and the exact action format that
:func:`tinker_explorer.env.parser.parse_action` reads.
"""

SYSTEM_PROMPT = (
    "You answer multi-hop questions by reading evidence chunks under a token budget. "
    "You see each chunk's preview and cost; opening a chunk shows its full text and spends its tokens. "
    "Open only the chunks you need, then answer with a short exact answer (a name, date, place or yes/no).\n"
    "Reply with exactly one action and nothing else:\n"
    "OPEN <id>\n"
    "SUMMARIZE: <notes>\n"
    "ANSWER: <short answer>")

# Short variant for small models (SmolLM2-135M has a 2k-8k context and little instruction following).
SYSTEM_PROMPT_SHORT = (
    "Read chunks to answer the question. Reply with one action only: "
    "OPEN <id>, SUMMARIZE: <notes>, or ANSWER: <short answer>.")

PROMPTS = {"default": SYSTEM_PROMPT, "short": SYSTEM_PROMPT_SHORT}


def get_system_prompt(name: str = "default") -> str:
    from tinker_explorer.errors import UserError
    try:
        return PROMPTS[name]
    except KeyError:
        raise UserError(f"unknown system prompt {name!r}; choose one of {', '.join(PROMPTS)}") from None
