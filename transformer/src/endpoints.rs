//! What the transformer serves over HTTP (see `runtime::http`): `/metrics` (Prometheus), `/healthz` (200 when
//! rounds succeed, 503 with the reason otherwise), `/status.json` and `/`, a self-contained live status page in
//! place of Flink's web UI.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use runtime::http::Response;
use runtime::telemetry::Health;
use serde_json::json;

use crate::metrics::Metrics;
use job::MapError;

/// The status page (no CDN, no external assets: it must work on a machine with no internet).
const PAGE: &str = include_str!("status.html");

/// Answers one request for `path`. `max_age`: how old the last successful round may be for `/healthz` to say 200.
pub fn handle(metrics: &Arc<Metrics>, max_age: Duration, path: &str) -> Response {
    match path {
        "/metrics" => runtime::telemetry::metrics_response(metrics.render()),
        "/healthz" => {
            let group = metrics.group.lock().expect("metrics lock poisoned").as_ref().map_or(String::new(), |g| {
                format!(
                    "group {} member {} generation {}{} partitions [{}]\n",
                    g.group,
                    g.member_id,
                    g.generation,
                    if g.leader { " (leader)" } else { "" },
                    g.assignment.join(", ")
                )
            });
            metrics.health(max_age).response(&group)
        }
        "/status.json" => Response::ok("application/json", status_json(metrics, max_age).to_string()),
        "/" | "/index.html" => Response::ok("text/html; charset=utf-8", PAGE.to_string()),
        _ => Response::text(404, "not found: try /, /metrics, /healthz, /status.json\n"),
    }
}

fn status_json(m: &Metrics, max_age: Duration) -> serde_json::Value {
    let health = m.health(max_age);
    let partitions: Vec<_> = m
        .partitions
        .lock()
        .expect("metrics lock poisoned")
        .iter()
        .map(|((topic, partition), g)| {
            json!({"topic": topic, "partition": partition, "committed": g.next_offset,
                   "high_watermark": g.high_watermark, "lag": (g.high_watermark - g.next_offset).max(0), "records": g.records,
                   "unreadable": g.unreadable})
        })
        .collect();
    let reasons: serde_json::Map<String, serde_json::Value> =
        MapError::REASONS.iter().zip(&m.dead_letters).map(|(r, c)| (r.to_string(), json!(c.load(Relaxed)))).collect();
    let errors: Vec<_> = m
        .errors
        .lock()
        .expect("metrics lock poisoned")
        .iter()
        .map(|(t, message)| json!({"t": t, "message": message}))
        .collect();
    let position_events: Vec<_> = m.position_events.lock().expect("metrics lock poisoned").iter().cloned().collect();
    let history: Vec<_> = m.history.lock().expect("metrics lock poisoned").iter().cloned().collect();
    json!({
        "health": {"ok": health.is_up(), "degraded": matches!(health, Health::Degraded(_)),
                   "reason": health.reason()},
        "position_events": position_events,
        "group": m.group.lock().expect("metrics lock poisoned").clone(),
        "started": m.started_ms.load(Relaxed),
        "totals": {
            "records_in": m.records_in.load(Relaxed),
            "records_out": m.records_out.load(Relaxed),
            "dead_letters": m.dead_letters_total(),
            "skipped": m.records_skipped.load(Relaxed),
            "commits": m.commits.load(Relaxed),
            "round_errors": m.round_errors.load(Relaxed),
            "lag": m.total_lag(),
        },
        "dead_letters": reasons,
        "partitions": partitions,
        "errors": errors,
        "history": history,
    })
}
