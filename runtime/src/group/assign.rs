//! Who reads which partition: the group leader's assignment (pure), and the consumer protocol's subscription and
//! assignment bytes, in Kafka's own format (version 0), so Kafka's tools can read what our members carry.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::{ConsumerProtocolAssignment, TopicPartition};
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// The assignment strategy we announce; the name Kafka's clients use for the same rule.
pub const ROUND_ROBIN: &str = "roundrobin";

/// A topic partition.
pub type Tp = (String, i32);

/// Kafka's round-robin rule: every partition of every topic, sorted, dealt in turn to the members (sorted by id)
/// that subscribe to its topic. Each member's share differs by at most one partition when all subscribe alike.
pub fn round_robin(members: &BTreeMap<String, Vec<String>>, partitions: &[Tp]) -> BTreeMap<String, Vec<Tp>> {
    let mut out: BTreeMap<String, Vec<Tp>> = members.keys().map(|m| (m.clone(), Vec::new())).collect();
    let ids: Vec<&String> = members.keys().collect();
    if ids.is_empty() {
        return out;
    }
    let mut sorted = partitions.to_vec();
    sorted.sort();
    let mut next = 0;
    for tp in sorted {
        // The next member in turn that subscribes to this topic.
        for k in 0..ids.len() {
            let m = ids[(next + k) % ids.len()];
            if members[m].contains(&tp.0) {
                out.get_mut(m).expect("every member has an entry").push(tp);
                next = (next + k + 1) % ids.len();
                break;
            }
        }
    }
    out
}

/// The subscription a member sends in JoinGroup: its topics.
pub fn subscription(topics: &[String]) -> Bytes {
    let s = ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| StrBytes::from_string(t.clone())).collect());
    versioned(&s)
}

/// The topics of a member's subscription; `None` when the bytes are not a consumer subscription.
pub fn parse_subscription(mut bytes: Bytes) -> Option<Vec<String>> {
    let version = read_version(&mut bytes)?;
    let s = ConsumerProtocolSubscription::decode(&mut bytes, version.min(3)).ok()?;
    Some(s.topics.iter().map(|t| t.to_string()).collect())
}

/// The assignment the leader sends a member in SyncGroup.
pub fn assignment(parts: &[Tp]) -> Bytes {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in parts {
        by_topic.entry(t).or_default().push(*p);
    }
    let a = ConsumerProtocolAssignment::default().with_assigned_partitions(
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                TopicPartition::default()
                    .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partitions(ps)
            })
            .collect(),
    );
    versioned(&a)
}

/// The partitions in an assignment (an empty one for no bytes: a member that got nothing).
pub fn parse_assignment(mut bytes: Bytes) -> Option<Vec<Tp>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let version = read_version(&mut bytes)?;
    let a = ConsumerProtocolAssignment::decode(&mut bytes, version.min(3)).ok()?;
    let mut out: Vec<Tp> =
        a.assigned_partitions.iter().flat_map(|tp| tp.partitions.iter().map(|p| (tp.topic.to_string(), *p))).collect();
    out.sort();
    Some(out)
}

fn versioned<M: Encodable>(m: &M) -> Bytes {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&0i16.to_be_bytes());
    m.encode(&mut buf, 0).expect("a version-0 consumer protocol message always encodes");
    buf.freeze()
}

fn read_version(bytes: &mut Bytes) -> Option<i16> {
    if bytes.len() < 2 {
        return None;
    }
    let v = i16::from_be_bytes([bytes[0], bytes[1]]);
    bytes::Buf::advance(bytes, 2);
    (v >= 0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(spec: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        spec.iter().map(|(m, ts)| (m.to_string(), ts.iter().map(|t| t.to_string()).collect())).collect()
    }

    fn parts(topic: &str, n: i32) -> Vec<Tp> {
        (0..n).map(|p| (topic.to_string(), p)).collect()
    }

    #[test]
    fn partitions_are_dealt_in_turn_each_once() {
        let all: Vec<Tp> = [parts("a", 3), parts("b", 2)].concat();
        let got = round_robin(&members(&[("m2", &["a", "b"]), ("m1", &["a", "b"])]), &all);
        assert_eq!(got["m1"], vec![("a".into(), 0), ("a".into(), 2), ("b".into(), 1)]);
        assert_eq!(got["m2"], vec![("a".into(), 1), ("b".into(), 0)]);
        let one = round_robin(&members(&[("m", &["a", "b"])]), &all);
        assert_eq!(one["m"].len(), 5, "a lone member takes everything");
        let many = round_robin(&members(&[("1", &["a"]), ("2", &["a"]), ("3", &["a"]), ("4", &["a"])]), &parts("a", 3));
        assert_eq!(many.values().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1, 0], "more members than partitions");
    }

    #[test]
    fn a_member_gets_only_topics_it_subscribes_to() {
        let all: Vec<Tp> = [parts("a", 2), parts("b", 2)].concat();
        let got = round_robin(&members(&[("m1", &["a"]), ("m2", &["a", "b"])]), &all);
        assert!(got["m1"].iter().all(|(t, _)| t == "a"));
        assert_eq!(got["m1"].len() + got["m2"].len(), 4, "every partition assigned once");
        assert_eq!(got["m2"].iter().filter(|(t, _)| t == "b").count(), 2);
    }

    #[test]
    fn the_consumer_protocol_bytes_round_trip_in_kafkas_format() {
        let topics = vec!["raw_a".to_string(), "raw_b".to_string()];
        let s = subscription(&topics);
        assert_eq!(&s[..2], &[0, 0], "version 0 first");
        assert_eq!(parse_subscription(s), Some(topics));
        let a = vec![("raw_a".to_string(), 0), ("raw_a".to_string(), 2), ("raw_b".to_string(), 1)];
        assert_eq!(parse_assignment(assignment(&a)), Some(a));
        assert_eq!(parse_assignment(Bytes::new()), Some(vec![]));
        assert_eq!(parse_subscription(Bytes::from_static(b"\x00")), None);
    }
}
