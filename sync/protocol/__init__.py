"""The pure wire contract of Lineside over MQTT: topics, payload models, the batch codec
and the record schema of each stream. Uplink, aggregator and plant IT read the same
definitions here."""

from sync.protocol.batch import decode_batch, encode_batch, record_texts
from sync.protocol.payloads import (
    PAYLOADS,
    Ack,
    Batch,
    BatchHead,
    Command,
    CommandAck,
    CurrentOrder,
    LineRef,
    LineStatus,
    Payload,
    PayloadError,
    ShiftKpi,
    WorkOrderBody,
    decode,
    encode,
)
from sync.protocol.topics import (
    AGGREGATOR_SHARE,
    COMMANDS,
    ROOT,
    STATE_NAMES,
    VERSION,
    Topics,
    aggregator_subscriptions,
    parse_topic,
)

__all__ = [
    "AGGREGATOR_SHARE",
    "COMMANDS",
    "PAYLOADS",
    "ROOT",
    "STATE_NAMES",
    "VERSION",
    "Ack",
    "Batch",
    "BatchHead",
    "Command",
    "CommandAck",
    "CurrentOrder",
    "LineRef",
    "LineStatus",
    "Payload",
    "PayloadError",
    "ShiftKpi",
    "Topics",
    "WorkOrderBody",
    "aggregator_subscriptions",
    "decode",
    "decode_batch",
    "encode",
    "encode_batch",
    "parse_topic",
    "record_texts",
]
