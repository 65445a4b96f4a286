"""Exactly once for any job, sink by sink (scripts/chaos.sh --job): what each sink must hold is what `transformer
run-job` makes of every input record (the same job, the same flags), and what it holds is read back independently
of the transformer: its Kafka topic with librdkafka (the confluent-kafka wheel; each record's source from its
`etl.src` header or its value's source_* fields), its ClickHouse table over HTTP (the `_source_*` columns, no FINAL).
Dead letters are counted per source record the same way.

    python3 chaos-job-check.py BROKERS INPUTS TRANSFORMER CLICKHOUSE_URL DEAD_LETTER_TOPIC

(INPUTS: comma-separated topics; the job comes from JOB_FILE, as for the transformer.) Prints one line
`sinks=S rows=R lost=L duplicates=D dead_letters=K dead_lost=DL dead_duplicates=DD`, then a line per sink and the
first few problems; exit 0 when every lost and duplicate count is 0, 1 otherwise, 2 when a server cannot be read.
"""
import json
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter

from confluent_kafka import Consumer, KafkaException, TopicPartition, OFFSET_BEGINNING

brokers, inputs, transformer, clickhouse, dead_topic = sys.argv[1], sys.argv[2].split(","), *sys.argv[3:6]
consumer = Consumer({"bootstrap.servers": brokers, "group.id": "chaos-job-check", "enable.auto.commit": False})


def records(topic):
    """Every record of `topic`, each partition read from its start to its high watermark."""
    meta = consumer.list_topics(topic, timeout=10)
    for p in sorted(meta.topics[topic].partitions) if topic in meta.topics else []:
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
            return f"{topic}/{partition}/{offset}"
    c = json.loads(m.value())
    return f"{c['source_topic']}/{c['source_partition']}/{c['source_offset']}"


def clickhouse_sources(table):
    sql = f"SELECT concat(_source_topic, '/', toString(_source_partition), '/', toString(_source_offset)) FROM {table} FORMAT TSV"
    with urllib.request.urlopen(urllib.request.Request(clickhouse, data=sql.encode()), timeout=60) as r:
        return r.read().decode().splitlines()


try:
    # The oracle: every input record through `run-job`. A value that is not UTF-8 cannot travel in its input
    # (JSON text): the pipeline dead-letters such a record whole, and so does the oracle.
    expected_rows, expected_dead, targets = Counter(), Counter(), {}
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as f:
        for t in inputs:
            for p, m in records(t):
                source = f"{t}/{p}/{m.offset()}"
                raw = m.value()
                try:
                    value = None if raw is None else raw.decode("utf-8")
                except UnicodeDecodeError:
                    expected_dead[source] += 1
                    continue
                f.write(json.dumps({"topic": t, "partition": p, "offset": m.offset(), "value": value,
                                    "timestamp": m.timestamp()[1]}) + "\n")
        f.flush()
        out = subprocess.run([transformer, "run-job", "--input", f.name], check=True, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        o = json.loads(line)
        if "sink" in o:
            expected_rows[(o["target"], o["source"])] += 1
            targets[o["target"]] = o["sink"]
        elif "dead_letter" in o:
            expected_dead[o["dead_letter"]["source"]] += 1
    held = Counter()
    for target in targets:
        kind, where = target.split(":", 1)
        found = clickhouse_sources(where) if kind == "clickhouse" else [source_of(m) for _, m in records(where)]
        held.update((target, s) for s in found)
    dead = Counter(source_of(m) for _, m in records(dead_topic))
except (KafkaException, OSError, subprocess.CalledProcessError) as e:
    print(f"cannot read the outputs: {e}", file=sys.stderr)
    sys.exit(2)

lost = sorted(k for k in expected_rows if held[k] < expected_rows[k])
dups = sorted(k for k in held if held[k] > expected_rows[k])
dead_lost = sorted(k for k in expected_dead if dead[k] < expected_dead[k])
dead_dups = sorted(k for k in dead if dead[k] > expected_dead[k])
count = lambda c, keys, want: sum(abs(c[k] - want[k]) for k in keys)
print(f"sinks={len(targets)} rows={sum(held.values())} lost={count(held, lost, expected_rows)} "
      f"duplicates={count(held, dups, expected_rows)} dead_letters={sum(dead.values())} "
      f"dead_lost={count(dead, dead_lost, expected_dead)} dead_duplicates={count(dead, dead_dups, expected_dead)}")
for target, sink in sorted(targets.items()):
    want = sum(n for (t, _), n in expected_rows.items() if t == target)
    got = sum(n for (t, _), n in held.items() if t == target)
    print(f"  sink {sink} ({target}): {got} rows of {want}")
for k in lost[:5]:
    print(f"  lost in {k[0]}: {k[1]}")
for k in dups[:5]:
    print(f"  {held[k]} times in {k[0]}: {k[1]}")
for k in dead_lost[:3] + dead_dups[:3]:
    print(f"  dead letters of {k}: {dead[k]}, expected {expected_dead[k]}")
sys.exit(0 if not (lost or dups or dead_lost or dead_dups) else 1)
