"""Exactly once for any job, counted by source record: every record of the input topics must have left exactly one
trace in the outputs, a row (its source in the `etl.src` header, or in the value's source_* fields) or a dead letter
(source_* fields). Read with librdkafka (the confluent-kafka wheel), a client independent of the transformer's.
  python3 chaos-coordinates.py BROKERS INPUTS OUTPUTS      (INPUTS, OUTPUTS: comma-separated topics)
Prints `inputs=N traces=T lost=L duplicates=D` (lost: inputs without a trace; duplicates: traces beyond one per
input) and the first few of each; exit 0 when both are 0, 1 otherwise, 2 when Kafka cannot be read.
"""
import json
import sys
from collections import Counter

from confluent_kafka import Consumer, KafkaException, TopicPartition, OFFSET_BEGINNING

brokers, inputs, outputs = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
consumer = Consumer({"bootstrap.servers": brokers, "group.id": "chaos-coordinates", "enable.auto.commit": False})


def partitions(topic):
    meta = consumer.list_topics(topic, timeout=10)
    return sorted(meta.topics[topic].partitions) if topic in meta.topics else []


def records(topic):
    """Every record of `topic`, each partition read from its start to its high watermark."""
    for p in partitions(topic):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if high <= low:
            continue
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)])
        last = low - 1
        while last < high - 1:
            m = consumer.poll(10)
            if m is None:
                raise KafkaException(f"{topic}/{p}: nothing more after offset {last}, high watermark {high}")
            if m.error():
                raise KafkaException(m.error())
            last = m.offset()
            yield p, m


def source_of(m):
    for k, v in m.headers() or []:
        if k == "etl.src":
            topic, partition, offset = v.decode().rsplit("/", 2)
            return topic, int(partition), int(offset)
    c = json.loads(m.value())
    return c["source_topic"], c["source_partition"], c["source_offset"]


try:
    want = {(t, p, m.offset()) for t in inputs for p, m in records(t)}
    traces = Counter(source_of(m) for t in outputs for _, m in records(t))
except KafkaException as e:
    print(f"cannot read Kafka at {brokers}: {e}", file=sys.stderr)
    sys.exit(2)
lost = sorted(want - set(traces))
dups = sorted(c for c, n in traces.items() if n > 1)
print(f"inputs={len(want)} traces={sum(traces.values())} lost={len(lost)} duplicates={sum(traces[c] - 1 for c in dups)}")
for c in lost[:5]:
    print(f"  lost {c[0]}/{c[1]}/{c[2]}")
for c in dups[:5]:
    print(f"  written {traces[c]} times: {c[0]}/{c[1]}/{c[2]}")
sys.exit(0 if not lost and not dups else 1)
