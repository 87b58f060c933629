"""``router.kafka``: the only code that imports aiokafka.

Source and sink of the loop, topic administration, live-table feeds and the embedded
broker. Tools of the CLI get their Kafka clients and error types from here.
"""

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from .admin import create_topics, ensure_topics
from .client import MAX_RECORD_BYTES, connection_kwargs, start_with_retry
from .sink import KafkaSink, estimate_size
from .source import KafkaSource
from .tables import follow_routes

__all__ = [
    "MAX_RECORD_BYTES",
    "AIOKafkaConsumer",
    "AIOKafkaProducer",
    "KafkaError",
    "KafkaSink",
    "KafkaSource",
    "MessageSizeTooLargeError",
    "TopicPartition",
    "connection_kwargs",
    "create_topics",
    "ensure_topics",
    "estimate_size",
    "follow_routes",
    "start_with_retry",
]
