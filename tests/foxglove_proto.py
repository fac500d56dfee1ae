"""Decode Foxglove SDK messages (protobuf) in tests, from the schema the SDK itself gives.

The SDK's message classes only encode; what a viewer receives (a WebSocket message, an MCAP
record) is decoded here with the protobuf runtime and the schema's FileDescriptorSet, as
Foxglove does: the test reads the bytes, not our objects.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=32)
def message_class(schema_name: str, schema_data: bytes):
    """The protobuf message class of `schema_name` from a FileDescriptorSet (bytes)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    for f in descriptor_pb2.FileDescriptorSet.FromString(schema_data).file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(schema_name))


def decode(schema_name: str, schema_data: bytes, data: bytes):
    """A protobuf message (fields as attributes) from its encoded bytes."""
    return message_class(schema_name, bytes(schema_data)).FromString(bytes(data))


def decode_sdk(message) -> object:
    """Encode an SDK message and decode it again with its own schema (for unit tests)."""
    schema = type(message).get_schema()
    return decode(schema.name, bytes(schema.data), message.encode())
