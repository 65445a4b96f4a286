//! Kafka topic names. One place, so the emitter, the transformer, the SQL and the scripts cannot disagree.

/// Raw click events (`user_id`, `element_id`, `url`, `timestamp`, `ip_address`).
pub const USER_CLICKS: &str = "user_clicks";
/// Raw page views (`user_id`, `url`, `duration_seconds`, `timestamp`, `ip_address`).
pub const PAGE_VIEWS: &str = "page_views";
/// Raw orders (`order_id`, `user_id`, `amount`, `timestamp`, `ip_address`).
pub const ORDERS: &str = "orders";
/// The three raw topics, in the order the emitter cycles through them.
pub const RAW: [&str; 3] = [USER_CLICKS, PAGE_VIEWS, ORDERS];

/// Unified, valid records; ClickHouse's Kafka engine reads this topic.
pub const PROCESSED: &str = "processed_events";
/// Records the transformer could not map, with the reason and their source coordinates.
pub const DEAD_LETTERS: &str = "dead_letters";
/// The transformer's offset checkpoints (one JSON record per commit).
pub const CHECKPOINTS: &str = "transformer_checkpoints";
