"""How the orchestrator's messages count things: "1 trial", "16 trials"."""


def counted(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"
