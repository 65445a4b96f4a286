//! Partition discovery on the real broker: a job reading by 'topic-pattern' takes a topic created while it runs,
//! reads it from its first record, and writes each record once, alone (static) and in a consumer group.

mod common;

use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(120);

async fn create_topic(s: &Servers, topic: &str) {
    let client = kafka(s).await;
    client.controller_client().unwrap().create_topic(topic, 1, 1, 10_000).await.unwrap();
}

/// Runs a 'topic-pattern' job with `extra` flags, creates a second matching topic while it runs, and checks that
/// both topics' records are written once.
async fn a_topic_created_while_running_is_read(test: &str, extra: &[&str]) {
    let s = servers();
    let names = Names::new(test);
    let (first, second) = (format!("{}shop_a", names.prefix), format!("{}shop_b", names.prefix));
    create_topic(&s, &first).await;
    produce(&s, &first, 0, &orders("a", 10)).await;
    let job = std::env::temp_dir().join(format!("{}job.sql", names.prefix));
    std::fs::write(
        &job,
        format!(
            "CREATE TABLE src (order_id STRING, user_id STRING)
               WITH ('connector' = 'kafka', 'topic-pattern' = '{prefix}shop_.*', 'format' = 'json');
             CREATE TABLE out (order_id STRING, user_id STRING)
               WITH ('connector' = 'kafka', 'topic' = 'out', 'format' = 'json');
             INSERT INTO out SELECT order_id, user_id FROM src;",
            prefix = names.prefix
        ),
    )
    .unwrap();
    let job_flag = format!("--job={}", job.display());
    let mut args =
        names.transformer_args(&s, &[&[job_flag.as_str(), "--partition-discovery-interval-ms=300"], extra].concat());
    args.retain(|a| !a.starts_with("--input-topics="));
    let t = Binary::spawn(&args);
    let written = |n: usize| {
        let (s, t, out) = (&s, &t, names.output());
        async move {
            eventually(LIMIT, "the records in the output", || async {
                if !runtime::kafka::topic_names(&kafka(s).await).await.unwrap().contains(&out) {
                    return Err(format!("no output topic yet\n{}", t.logged()));
                }
                let (coords, _) = output_coordinates(s, std::slice::from_ref(&out)).await;
                (coords.len() >= n).then_some(coords.clone()).ok_or(format!("{} of {n}\n{}", coords.len(), t.logged()))
            })
            .await
        }
    };
    written(10).await;
    create_topic(&s, &second).await;
    produce(&s, &second, 0, &orders("b", 7)).await;
    let coords = written(17).await;
    assert_eq!(duplicates(&coords), 0, "each record once");
    assert_eq!(coords.iter().filter(|c| c.0 == second).count(), 7, "the new topic from its first record");
    assert!(t.logged().contains("new input partitions"), "{}", t.logged());
    drop(t);
    std::fs::remove_file(&job).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_matching_the_pattern_created_while_running_is_read() {
    a_topic_created_while_running_is_read("discover", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_member_rejoins_for_a_topic_created_while_running() {
    let group = format!("--group={}", Names::new("discoverg").prefix);
    let flags = ["--assignment=group", group.as_str(), "--session-timeout-ms=6000", "--heartbeat-interval-ms=500"];
    a_topic_created_while_running_is_read("discoverg", &flags).await;
}
