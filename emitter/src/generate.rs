//! Seeded fake events. Event `i` of a stream depends only on `(seed, i)` (and the clock, unless a start time is
//! set), so a stream can be regenerated, resumed at any index, and its event ids computed by anyone.

use chrono::{DateTime, Duration, Utc};
use contract::raw::{Order, PageView, RawEvent, UserClick};
use fake::faker::internet::en::{DomainSuffix, IPv4};
use fake::faker::lorem::en::Word;
use fake::rand::rngs::ChaCha8Rng;
use fake::rand::{RngExt, SeedableRng};
use fake::Fake;

/// One record ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    /// Index in [`contract::topics::RAW`] of the topic.
    pub topic: usize,
    /// Partition, before taking it modulo the topic's partition count.
    pub partition: u64,
    /// The record value.
    pub value: Vec<u8>,
    /// Whether the value was made malformed on purpose.
    pub malformed: bool,
}

impl Emitted {
    /// The event id the transformer will give this record, when it is sent to `topics[self.topic]`.
    pub fn event_id(&self, topics: &[String; 3]) -> String {
        contract::id::event_id(&topics[self.topic], &self.value)
    }
}

/// Generates the events of one stream.
#[derive(Debug, Clone)]
pub struct Generator {
    seed: u64,
    start: Option<DateTime<Utc>>,
    step_ms: i64,
    malformed_ratio: f64,
    rfc3339: bool,
}

impl Generator {
    /// A stream with `seed`. With `start`, event i is stamped `start + i * 1000 / rate` ms (rate 0: 1 ms apart);
    /// without, it is stamped with the current time. `malformed_ratio` of the records are broken on purpose.
    pub fn new(seed: u64, start: Option<DateTime<Utc>>, rate: u64, malformed_ratio: f64) -> Self {
        let step_ms = if rate == 0 { 1 } else { (1000 / rate as i64).max(1) };
        Self { seed, start, step_ms, malformed_ratio, rfc3339: false }
    }

    /// Stamps events in RFC 3339 with milliseconds instead of the original whole-second format.
    pub fn with_rfc3339(mut self, yes: bool) -> Self {
        self.rfc3339 = yes;
        self
    }

    /// Event number `i`.
    pub fn event(&self, i: u64) -> Emitted {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(i);
        let ts = match self.start {
            Some(start) => start + Duration::milliseconds(self.step_ms.saturating_mul(i as i64)),
            None => Utc::now(),
        };
        let timestamp = if self.rfc3339 {
            ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        } else {
            contract::time::format_original(ts)
        };
        let topic = rng.random_range(0..3usize);
        let user_id = uuid(&mut rng);
        let ip_address: String = IPv4().fake_with_rng(&mut rng);
        let event = match topic {
            0 => RawEvent::Click(UserClick {
                user_id,
                element_id: format!("btn-{}", rng.random_range(1..=20)),
                url: url(&mut rng),
                timestamp,
                ip_address,
            }),
            1 => RawEvent::View(PageView {
                user_id,
                url: url(&mut rng),
                duration_seconds: rng.random_range(5..=300),
                timestamp,
                ip_address,
            }),
            _ => RawEvent::Order(Order {
                order_id: uuid(&mut rng),
                user_id,
                amount: f64::from(rng.random_range(999u32..=99_999)) / 100.0,
                timestamp,
                ip_address,
            }),
        };
        let malformed = self.malformed_ratio > 0.0 && rng.random::<f64>() < self.malformed_ratio;
        let value = if malformed { break_record(event.to_json(), &mut rng) } else { event.to_json() };
        Emitted { topic, partition: i, value, malformed }
    }
}

/// A random (version 4) UUID from the stream's generator.
fn uuid(rng: &mut ChaCha8Rng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    contract::id::format_uuid(&b)
}

/// A URL in the spirit of Python Faker's `uri()`.
fn url(rng: &mut ChaCha8Rng) -> String {
    let host: String = Word().fake_with_rng(rng);
    let suffix: String = DomainSuffix().fake_with_rng(rng);
    let path: String = Word().fake_with_rng(rng);
    let page: String = Word().fake_with_rng(rng);
    format!("https://www.{host}.{suffix}/{path}/{page}.html")
}

/// Breaks a valid record in one of the ways the transformer must dead-letter.
fn break_record(valid: Vec<u8>, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let text = String::from_utf8(valid).expect("serde_json writes UTF-8");
    match rng.random_range(0..6u8) {
        0 => text.as_bytes()[..text.len() / 2].to_vec(), // cut JSON
        1 => text.replacen("\"user_id\"", "\"user\"", 1).into_bytes(), // no user_id
        2 => text.replacen("\"timestamp\":\"", "\"timestamp\":\"not a time ", 1).into_bytes(),
        3 => text.replacen("\"user_id\":\"", "\"user_id\":null,\"was\":\"", 1).into_bytes(), // a null user_id
        4 => Vec::new(),                                                                     // empty record
        _ => {
            let mut b = text.into_bytes(); // invalid UTF-8 inside a string
            let at = b.len() / 2;
            b.insert(at, 0xff);
            b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_index_access() {
        let start = Some("2026-01-01T00:00:00Z".parse().unwrap());
        let a = Generator::new(7, start, 100, 0.1);
        let b = Generator::new(7, start, 100, 0.1);
        for i in [0, 1, 2, 1000, 123_456] {
            assert_eq!(a.event(i), b.event(i));
        }
        assert_ne!(a.event(0), Generator::new(8, start, 100, 0.1).event(0));
    }

    #[test]
    fn valid_events_follow_the_contract() {
        let g = Generator::new(1, None, 0, 0.0);
        let mut topics = [0; 3];
        for i in 0..600 {
            let e = g.event(i);
            topics[e.topic] += 1;
            assert!(!e.malformed);
            let v: serde_json::Value = serde_json::from_slice(&e.value).unwrap();
            assert_eq!(v["user_id"].as_str().unwrap().len(), 36);
            assert_eq!(v["timestamp"].as_str().unwrap().len(), 19);
            match e.topic {
                0 => {
                    let n: u32 = v["element_id"].as_str().unwrap()[4..].parse().unwrap();
                    assert!((1..=20).contains(&n));
                }
                1 => assert!((5..=300).contains(&v["duration_seconds"].as_u64().unwrap())),
                _ => {
                    let a = v["amount"].as_f64().unwrap();
                    assert!((9.99..=999.99).contains(&a));
                    assert_eq!((a * 100.0).round() / 100.0, a);
                }
            }
        }
        assert!(topics.iter().all(|&n| n > 150), "{topics:?}");
    }

    #[test]
    fn malformed_ratio_is_roughly_kept() {
        let g = Generator::new(3, None, 0, 0.2);
        let bad = (0..5000).filter(|&i| g.event(i).malformed).count();
        assert!((800..1200).contains(&bad), "{bad}");
    }
}
