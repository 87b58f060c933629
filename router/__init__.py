"""``router``: the Stellwerk streaming application (CLI, later the Kafka pipeline).

It knows EDIFACT only through the ``sgb301`` codec API.
"""

__all__: list[str] = []
