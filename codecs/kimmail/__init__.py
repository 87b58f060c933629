"""``kimmail``: KIM mails to a Medizinischer Dienst (pure, no I/O)."""

__all__: list[str] = []
