"""librdkafka (the confluent-kafka wheel) as a foreign client for the integration tests.

  produce BROKERS TOPIC CODEC COUNT   writes COUNT seed-shaped JSON records to partition 0 of TOPIC, batched and
                                      compressed with CODEC (none, gzip, snappy, lz4, zstd); prints nothing
  consume BROKERS TOPIC COUNT         reads COUNT records from the start of every partition of TOPIC and prints each
                                      value on its own line
"""
import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition


def produce(brokers, topic, codec, count):
    p = Producer({
        "bootstrap.servers": brokers,
        "compression.type": codec,
        "linger.ms": 50,
        "batch.num.messages": 500,
        "enable.idempotence": False,
        "api.version.request": True,
    })
    errors = []

    def report(err, _msg):
        if err is not None:
            errors.append(str(err))

    for i in range(count):
        value = {
            "user_id": "u-%s-%d" % (codec, i),
            "url": "https://www.example.com/%s/%d.html" % (codec, i),
            "element_id": "btn-%d" % (i % 20 + 1),
            "timestamp": "2026-01-01 00:00:%02d" % (i % 60),
            "ip_address": "10.0.0.%d" % (i % 250),
        }
        p.produce(topic, json.dumps(value).encode(), partition=0, on_delivery=report)
        p.poll(0)
    left = p.flush(60)
    if left or errors:
        sys.exit("librdkafka could not deliver %d records: %s" % (left, errors[:3]))


def consume(brokers, topic, count):
    c = Consumer({
        "bootstrap.servers": brokers,
        "group.id": "rdkafka-check-" + topic,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    meta = c.list_topics(topic, timeout=30)
    partitions = meta.topics[topic].partitions
    c.assign([TopicPartition(topic, p, 0) for p in partitions])
    seen = 0
    idle = 0
    while seen < count and idle < 300:
        msg = c.poll(0.1)
        if msg is None:
            idle += 1
            continue
        if msg.error():
            sys.exit("librdkafka could not read: %s" % msg.error())
        idle = 0
        seen += 1
        print(msg.value().decode())
    c.close()
    if seen < count:
        sys.exit("librdkafka read %d of %d records" % (seen, count))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif cmd == "consume":
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
