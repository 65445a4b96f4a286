"""Finds the record that stops ClickHouse's Kafka engine, and with --skip moves the engine past it, losing nothing.

ClickHouse 18.16's Kafka engine retries a block holding a record it cannot parse forever (it has no
kafka_skip_broken_messages), and one such record on processed_events or dead_letters stops all ingestion. Its
consumer group stays at the start of the failing block, so the record is the first one at or after the group's
position that is not a JSON object. Uses librdkafka (the confluent-kafka wheel), as the engine does. Run by
scripts/kafka-engine-skip.sh, which detaches the engine's table first (a group with a live member refuses outside
commits).
  python3 kafka-engine-stall.py BROKERS GROUP TOPIC [--skip]
Prints one line per stuck partition: `stuck TOPIC/PARTITION at offset N (K records before it not ingested yet):
<the record's first bytes>`. With --skip, the K good records between the group's position and the bad one are
produced again to the same partition (the engine never ingested them: the whole block failed), then the group's
position is set past the bad record: `skipped ...`. Exit 0; 2 when Kafka cannot be read or written.
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

SCAN_LIMIT = 1_000_000  # records looked at per partition

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


def is_object(value):
    try:
        return isinstance(json.loads(value or b""), dict)
    except ValueError:
        return False


stuck = []  # (partition, bad offset, the good records before it)
for tp in committed:
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=10)
    at = max(tp.offset, low) if tp.offset >= 0 else low
    if at >= high:
        continue
    consumer.assign([TopicPartition(topic, tp.partition, at)])
    before, deadline = [], time.time() + 60
    while time.time() < deadline and len(before) < SCAN_LIMIT:
        msg = consumer.poll(1)
        if msg is None:
            if consumer.position([TopicPartition(topic, tp.partition)])[0].offset >= high:
                break
            continue
        if msg.error():
            continue
        if not is_object(msg.value()):
            head = (msg.value() or b"")[:80].decode("utf-8", "replace").replace("\n", " ")
            print(f"stuck {topic}/{tp.partition} at offset {msg.offset()} ({len(before)} records before it not "
                  f"ingested yet): {head!r}")
            stuck.append((tp.partition, msg.offset(), before))
            break
        before.append(msg)
        if msg.offset() + 1 >= high:
            break
    consumer.unassign()

if skip and stuck:
    producer = Producer({"bootstrap.servers": brokers, "acks": "all", "enable.idempotence": True})
    for partition, _, before in stuck:
        for m in before:
            producer.produce(topic, m.value(), m.key(), partition=partition, headers=m.headers())
    if producer.flush(60) != 0:
        print("could not produce the good records again", file=sys.stderr)
        sys.exit(2)
    moves = [TopicPartition(topic, partition, bad + 1) for partition, bad, _ in stuck]
    deadline = time.time() + 60
    while True:  # the detached engine's member may take a moment to leave the group
        try:
            consumer.commit(offsets=moves, asynchronous=False)
            break
        except KafkaException as e:
            if time.time() > deadline:
                print(f"could not move group {group}: {e}", file=sys.stderr)
                sys.exit(2)
            time.sleep(1)
    for partition, bad, before in stuck:
        print(f"skipped {topic}/{partition} offset {bad}: group {group} now at {bad + 1}; the {len(before)} good "
              f"records before it produced again at the partition's end")
consumer.close()
