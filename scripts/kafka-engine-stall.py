"""Finds the record that stops ClickHouse's Kafka engine, and with --skip moves the engine's consumer group past it.

ClickHouse 18.16's Kafka engine retries a record it cannot parse forever (it has no kafka_skip_broken_messages),
and one such record on processed_events or dead_letters stops all ingestion. This looks, for every partition of
TOPIC, at the record where GROUP (the engine's consumer group) stands: a record there that is not a JSON object is
the one. Uses librdkafka (the confluent-kafka wheel), like the engine itself. Run by scripts/kafka-engine-skip.sh,
which detaches the engine's table first (a group with a live member refuses outside commits).
  python3 kafka-engine-stall.py BROKERS GROUP TOPIC [--skip]
Prints one line per stuck partition: `stuck TOPIC/PARTITION at offset N: <the record's first bytes>`; with --skip
also `skipped ...` once the group's position is moved to N+1. Exit 0; 2 when Kafka cannot be read.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

brokers, group, topic = sys.argv[1:4]
skip = "--skip" in sys.argv[4:]
consumer = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False,
                     "auto.offset.reset": "earliest"})
try:
    meta = consumer.list_topics(topic, timeout=10)
    partitions = sorted(meta.topics[topic].partitions) if topic in meta.topics else []
    committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
except KafkaException as e:
    print(f"cannot read Kafka at {brokers}: {e}", file=sys.stderr)
    sys.exit(2)

stuck = []
for tp in committed:
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
    at = tp.offset if tp.offset >= 0 else low
    if at >= high:
        continue
    consumer.assign([TopicPartition(topic, tp.partition, at)])
    msg = None
    deadline = time.time() + 10
    while msg is None and time.time() < deadline:
        msg = consumer.poll(1)
    if msg is None or msg.error() or msg.offset() != at:
        continue
    value = msg.value() or b""
    try:
        ok = isinstance(json.loads(value), dict)
    except ValueError:
        ok = False
    if not ok:
        head = value[:80].decode("utf-8", "replace").replace("\n", " ")
        print(f"stuck {topic}/{tp.partition} at offset {at}: {head!r}")
        stuck.append(TopicPartition(topic, tp.partition, at + 1))
consumer.unassign()

if skip and stuck:
    deadline = time.time() + 60
    while True:  # the detached engine's member may take a moment to leave the group
        try:
            consumer.commit(offsets=stuck, asynchronous=False)
            break
        except KafkaException as e:
            if time.time() > deadline:
                print(f"could not move group {group}: {e}", file=sys.stderr)
                sys.exit(2)
            time.sleep(1)
    for tp in stuck:
        print(f"skipped {topic}/{tp.partition} offset {tp.offset - 1}: group {group} now at {tp.offset}")
consumer.close()
