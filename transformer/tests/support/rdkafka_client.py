"""librdkafka (the confluent-kafka wheel) as a foreign client for the integration tests.

  produce BROKERS TOPIC CODEC COUNT   writes COUNT seed-shaped JSON records to partition 0 of TOPIC, batched and
                                      compressed with CODEC (none, gzip, snappy, lz4, zstd), each with the headers
                                      `trace-id` = `t-<codec>-<i>` and `codec` = CODEC; prints nothing
  consume BROKERS TOPIC COUNT         reads COUNT records from the start of every partition of TOPIC and prints each
                                      value on its own line
  group BROKERS GROUP TOPIC,...       what Kafka's admin API says of consumer group GROUP: one line per partition
                                      of the topics (`TOPIC PARTITION committed=C high=H lag=L`), then
                                      `total lag=L committed_partitions=N`, then `described state=S members=M`
"""
import json
import sys

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient


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
        headers = [("trace-id", ("t-%s-%d" % (codec, i)).encode()), ("codec", codec.encode())]
        p.produce(topic, json.dumps(value).encode(), partition=0, headers=headers, on_delivery=report)
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


def group(brokers, group_id, topics):
    admin = AdminClient({"bootstrap.servers": brokers})
    c = Consumer({"bootstrap.servers": brokers, "group.id": "rdkafka-watermarks", "enable.auto.commit": False})
    parts = []
    for topic in topics:
        meta = c.list_topics(topic, timeout=30)
        parts += [TopicPartition(topic, p) for p in sorted(meta.topics[topic].partitions)]
    request = [ConsumerGroupTopicPartitions(group_id, parts)]
    listed = admin.list_consumer_group_offsets(request)[group_id].result(timeout=30)
    committed = {(tp.topic, tp.partition): tp.offset for tp in listed.topic_partitions}
    total, n = 0, 0
    for tp in parts:
        _, high = c.get_watermark_offsets(tp, timeout=30)
        off = committed.get((tp.topic, tp.partition), -1001)
        lag = high - off if off >= 0 else high
        n += off >= 0
        total += lag
        print("%s %d committed=%d high=%d lag=%d" % (tp.topic, tp.partition, off, high, lag))
    print("total lag=%d committed_partitions=%d" % (total, n))
    try:
        d = admin.describe_consumer_groups([group_id])[group_id].result(timeout=30)
        print("described state=%s members=%d" % (d.state, len(d.members)))
    except Exception as e:  # a broker that does not describe groups: say so, the offsets above still count
        print("described error=%s" % str(e).replace(" ", "_"))
    c.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif cmd == "consume":
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "group":
        group(sys.argv[2], sys.argv[3], sys.argv[4].split(","))
    else:
        sys.exit(__doc__)
