//! The raw events, as the original demo's emitter writes them: one JSON object per record.
//!
//! Field names and value ranges are the data contract; the emitter serialises these structs and the
//! transformer accepts exactly these fields (plus what the original Flink source table declared).

use serde::{Deserialize, Serialize};

/// A click on a page element (topic `user_clicks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserClick {
    /// UUID of the user.
    pub user_id: String,
    /// `"btn-1"` .. `"btn-20"`.
    pub element_id: String,
    /// Page URL.
    pub url: String,
    /// `"YYYY-MM-DD HH:MM:SS"`, UTC.
    pub timestamp: String,
    /// Dotted IPv4 address.
    pub ip_address: String,
}

/// A page view (topic `page_views`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageView {
    /// UUID of the user.
    pub user_id: String,
    /// Page URL.
    pub url: String,
    /// 5 ..= 300.
    pub duration_seconds: u32,
    /// `"YYYY-MM-DD HH:MM:SS"`, UTC.
    pub timestamp: String,
    /// Dotted IPv4 address.
    pub ip_address: String,
}

/// An order (topic `orders`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// UUID of the order.
    pub order_id: String,
    /// UUID of the user.
    pub user_id: String,
    /// 9.99 ..= 999.99, two decimals.
    pub amount: f64,
    /// `"YYYY-MM-DD HH:MM:SS"`, UTC.
    pub timestamp: String,
    /// Dotted IPv4 address.
    pub ip_address: String,
}

/// One raw event of any of the three kinds, with the topic it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum RawEvent {
    /// Goes to `user_clicks`.
    Click(UserClick),
    /// Goes to `page_views`.
    View(PageView),
    /// Goes to `orders`.
    Order(Order),
}

impl RawEvent {
    /// The raw topic this event is written to.
    pub fn topic(&self) -> &'static str {
        match self {
            RawEvent::Click(_) => crate::topics::USER_CLICKS,
            RawEvent::View(_) => crate::topics::PAGE_VIEWS,
            RawEvent::Order(_) => crate::topics::ORDERS,
        }
    }

    /// The JSON bytes of the record.
    pub fn to_json(&self) -> Vec<u8> {
        let r = match self {
            RawEvent::Click(e) => serde_json::to_vec(e),
            RawEvent::View(e) => serde_json::to_vec(e),
            RawEvent::Order(e) => serde_json::to_vec(e),
        };
        r.expect("raw events are plain structs of strings and numbers")
    }
}
