//! Consumer groups against the real broker's group coordinator: members share the partitions, commits carry
//! metadata, a member the coordinator stopped hearing from is fenced; and transformers in one group.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use runtime::group::{is_fencing, Beat, Member, Settings};

fn member(s: &Servers, group: &str, session: Duration) -> Member {
    let settings = Settings {
        group: group.to_string(),
        session_timeout: session,
        rebalance_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
        client_id: "test".into(),
        instance_id: None,
    };
    Member::new(settings, vec![s.brokers.clone()], runtime::security::Security::default())
}

/// Heartbeats `m` until the coordinator says the group rebalances (or fenced us), then rejoins.
async fn rejoin_on_rebalance(m: &Member, topics: &[String], parts: &[(String, i32)]) -> runtime::group::Generation {
    loop {
        match m.heartbeat().await.unwrap() {
            Beat::Ok => tokio::time::sleep(Duration::from_millis(200)).await,
            Beat::Rebalance | Beat::Fenced => return m.join(topics, parts).await.unwrap(),
            Beat::Replaced => panic!("no static membership here"),
        }
    }
}

#[tokio::test]
async fn members_share_partitions_commit_with_metadata_and_a_silent_member_is_fenced() {
    let s = servers();
    let names = Names::new("members");
    names.init_topics(&s).await;
    let topics: Vec<String> = names.raw().to_vec();
    let mut parts = Vec::new();
    for t in &topics {
        for p in 0..3 {
            parts.push((t.clone(), p));
        }
    }
    parts.sort();
    let group = format!("{}group", names.prefix);
    let a = member(&s, &group, Duration::from_secs(6));
    let b = member(&s, &group, Duration::from_secs(6));

    let ga = a.join(&topics, &parts).await.unwrap();
    assert_eq!(ga.assignment.len(), 9, "a lone member owns every partition: {ga:?}");
    assert_eq!(ga.leader, ga.member_id);

    // B joins; A learns of the rebalance from its heartbeat and rejoins.
    let (gb, ga) = tokio::join!(b.join(&topics, &parts), rejoin_on_rebalance(&a, &topics, &parts));
    let gb = gb.unwrap();
    assert_eq!(ga.id, gb.id, "one generation");
    assert!(ga.id > 0);
    let mut all = [ga.assignment.clone(), gb.assignment.clone()].concat();
    all.sort();
    assert_eq!(all, parts, "each partition owned by exactly one member");
    assert!(ga.assignment.len().abs_diff(gb.assignment.len()) <= 1, "{ga:?} {gb:?}");

    // A member commits its partitions; anyone reads them back. (nisshi 0.8.1 answers OffsetFetch with empty
    // metadata whatever was committed: the output marks live in the checkpoint topic, see transformer::group.)
    let mine: BTreeMap<_, _> = ga.assignment.iter().map(|tp| (tp.clone(), 7i64)).collect();
    a.commit(&mine, "").await.unwrap();
    let got = b.committed(&parts).await.unwrap();
    assert_eq!(got.keys().collect::<Vec<_>>(), mine.keys().collect::<Vec<_>>(), "only what was committed");
    assert!(got.values().all(|c| c.offset == 7), "{got:?}");

    // B goes silent past the session timeout: the coordinator drops it, A gets everything, and B's commit is
    // refused — it learns it was fenced before anything it commits counts.
    let ga = tokio::time::timeout(Duration::from_secs(30), rejoin_on_rebalance(&a, &topics, &parts)).await.unwrap();
    assert_eq!(ga.assignment.len(), 9, "the survivor owns every partition: {ga:?}");
    assert!(!b.lease_ok(Duration::ZERO), "B's lease ran out while it was silent");
    let theirs: BTreeMap<_, _> = gb.assignment.iter().map(|tp| (tp.clone(), 99i64)).collect();
    let refused = b.commit(&theirs, "").await.unwrap_err();
    assert!(is_fencing(&refused), "a stale member's commit is refused: {refused}");
    let got = a.committed(&parts).await.unwrap();
    assert!(got.values().all(|c| c.offset != 99), "nothing of the stale commit landed: {got:?}");
    a.leave().await.unwrap();
}

const LIMIT: Duration = Duration::from_secs(120);

/// The newest "joined the group" line of a transformer's log: (generation, partitions assigned).
fn last_join(log: &str) -> Option<(i32, usize)> {
    let line = log.lines().rev().find(|l| l.contains("joined the group"))?;
    let generation = line.split("generation=").nth(1)?.split(' ').next()?.parse().ok()?;
    let parts = line.split("partitions=[").nth(1)?.split(']').next()?;
    Some((generation, if parts.is_empty() { 0 } else { parts.split(", ").count() }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transformers_in_one_group_share_the_partitions_and_take_over_a_killed_one() {
    let s = servers();
    let names = Names::new("gshare");
    let n: u64 = 20_000;
    emitter::run(names.emitter(&s, 51, n, 0.01, false), std::future::pending()).await.unwrap();
    let (want, bad) = expected(&names, 51, 0..n, 0.01);
    let group = format!("--group={}g", names.prefix);
    let flags = ["--assignment=group", group.as_str(), "--session-timeout-ms=6000", "--heartbeat-interval-ms=500"];
    // Small fetches make many rounds, so the kill lands between a write and its commit now and then.
    let args = names.transformer_args(&s, &[&flags[..], &["--fetch-max-bytes=4096", "--fetch-max-wait-ms=5"]].concat());
    let mut a = Binary::spawn(&args);
    let b = Binary::spawn(&args);
    let shared = eventually(LIMIT, "both members to share the partitions", || async {
        match (last_join(&a.logged()), last_join(&b.logged())) {
            (Some((ga, na)), Some((gb, nb))) if ga == gb && na + nb == 9 && na > 0 && nb > 0 => Ok((na, nb)),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(shared.0.abs_diff(shared.1) <= 1, "an even share: {shared:?}");
    // /healthz, /status.json and /metrics name the member, its generation and its partitions.
    let addr: std::net::SocketAddr = a
        .logged()
        .lines()
        .find_map(|l| l.split("address=").nth(1).map(|a| a.trim().to_string()))
        .expect("the endpoints' address is logged")
        .parse()
        .unwrap();
    let health = eventually(LIMIT, "/healthz 200", || async {
        match http_get(addr, "/healthz").await {
            (200, body) => Ok(body),
            (code, body) => Err(format!("{code} {body}")),
        }
    })
    .await;
    assert!(
        health.contains("member etl-rs-") && health.contains(" generation ") && health.contains("partitions ["),
        "{health}"
    );
    let (_, status) = http_get(addr, "/status.json").await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["group"]["assignment"].as_array().unwrap().len(), shared.0, "{status}");
    let (_, metrics) = http_get(addr, "/metrics").await;
    assert!(metrics.contains("transformer_group_generation{"), "{metrics}");
    promtool_check(&metrics);

    let written = || async { topic_len(&s, &names.output()).await + topic_len(&s, &names.dead()).await };
    eventually(LIMIT, "progress before the kill", || async {
        let w = written().await;
        (w >= n as i64 / 3).then_some(()).ok_or(format!("{w}"))
    })
    .await;
    a.kill(); // SIGKILL: no LeaveGroup, the coordinator notices after the session timeout
    let killed = std::time::Instant::now();
    eventually(LIMIT, "the survivor to take every partition", || async {
        match last_join(&b.logged()) {
            Some((_, 9)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let takeover = killed.elapsed();
    eprintln!("takeover after SIGKILL: {} ms (session timeout 6000 ms)", takeover.as_millis());
    assert!(takeover < Duration::from_secs(6 + 10), "taken over within the session timeout and a rebalance");

    // One more member takes a share again.
    let c = Binary::spawn(&args);
    eventually(LIMIT, "the new member to take a share", || async {
        match (last_join(&b.logged()), last_join(&c.logged())) {
            (Some((gb, nb)), Some((gc, nc))) if gb == gc && nb + nc == 9 && nc > 0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    everything_committed(&s, &names, n, &flags).await;
    assert_outputs_exact(&s, &names, &want, bad).await;
    let (_, status) = run_binary(&names.transformer_args(&s, &[&["--status"], &flags[..]].concat()));
    assert!(status.starts_with("group name="), "{status}");
    // A foreign admin client (librdkafka's) sees the group's committed offsets, and its lag at 0.
    let topics = names.raw().join(",");
    let admin = rdkafka(&["group", &s.brokers, group.trim_start_matches("--group="), &topics]);
    assert!(admin.contains("total lag=0 committed_partitions=9"), "{admin}");
    drop((b, c));
}

/// Runs tests/support/rdkafka_client.py with the confluent-kafka wheel scripts/test.sh installed.
fn rdkafka(args: &[&str]) -> String {
    let lib = std::env::var("TEST_PYTHONPATH")
        .expect("TEST_PYTHONPATH is not set: it names the confluent-kafka wheel scripts/test.sh installs");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/rdkafka_client.py");
    let out = std::process::Command::new("python3").arg(script).args(args).env("PYTHONPATH", lib).output().unwrap();
    assert!(out.status.success(), "rdkafka_client.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Sends `signal` (STOP, CONT) to a child.
fn signal(child: &Binary, signal: &str) {
    let ok = std::process::Command::new("kill").arg(format!("-{signal}")).arg(child.child.id().to_string()).status();
    assert!(ok.unwrap().success());
}

/// What a transformer's log says its fenced rounds wrote (`written=N` of each "fenced:" line).
fn fenced_written(log: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("fenced: this round was written"))
        .filter_map(|l| l.split("written=").nth(1)?.split(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zombie_frozen_past_the_session_timeout_learns_it_was_fenced_before_committing() {
    let s = servers();
    let names = Names::new("zombie");
    let n: u64 = 10_000;
    emitter::run(names.emitter(&s, 52, n, 0.01, false), std::future::pending()).await.unwrap();
    let (want, bad) = expected(&names, 52, 0..n, 0.01);
    let group = format!("--group={}g", names.prefix);
    let flags = ["--assignment=group", group.as_str(), "--session-timeout-ms=6000", "--heartbeat-interval-ms=500"];
    let small = ["--fetch-max-bytes=8192", "--fetch-max-wait-ms=5"];
    // The zombie-to-be waits between each write and its commit, so the freeze most likely lands there: the worst
    // moment, a round written and not committed.
    let zombie_args = names.transformer_args(&s, &[&flags[..], &small, &["--delay-before-commit-ms=100"]].concat());
    let z = Binary::spawn(&zombie_args);
    let b = Binary::spawn(&names.transformer_args(&s, &[&flags[..], &small].concat()));
    eventually(LIMIT, "both members to share and write", || async {
        let w = topic_len(&s, &names.output()).await;
        match (last_join(&z.logged()), last_join(&b.logged())) {
            (Some((gz, nz)), Some((gb, _))) if gz == gb && nz > 0 && w > 1_000 => Ok(()),
            other => Err(format!("{other:?} written {w}")),
        }
    })
    .await;
    signal(&z, "STOP");
    eventually(LIMIT, "the other member to take every partition", || async {
        match last_join(&b.logged()) {
            Some((_, 9)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    signal(&z, "CONT");
    // On waking, the zombie must not commit in the old generation: it learns it was replaced and rejoins.
    eventually(LIMIT, "the zombie to rejoin", || async {
        let log = z.logged();
        let rejoined = log.matches("joined the group").count() >= 2;
        rejoined.then_some(()).ok_or_else(|| log.lines().rev().take(3).collect::<Vec<_>>().join("\n"))
    })
    .await;
    everything_committed(&s, &names, n, &flags).await;
    let log = z.logged();
    let reported = fenced_written(&log);
    let all = [coordinates(&s, &names.output()).await, coordinates(&s, &names.dead()).await].concat();
    let doubled = duplicates(&all) as u64;
    eprintln!("zombie: fenced rounds wrote {reported} records; {doubled} written twice");
    assert!(doubled <= reported, "only the zombie's fenced round may be doubled: {doubled} > {reported}\n{log}");
    // Nothing lost; every id there, and the doubles are exactly the ones counted above.
    let topic: Vec<contract::processed::ProcessedEvent> = read_topic(&s, &names.output()).await;
    let ids: std::collections::HashSet<String> = topic.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(ids, want, "nothing lost");
    let letters = coordinates(&s, &names.dead()).await;
    let unique: std::collections::HashSet<_> = letters.iter().collect();
    assert_eq!(unique.len() as u64, bad);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_resumes_once_from_the_static_checkpoints_nothing_reread_nothing_lost() {
    let s = servers();
    let names = Names::new("migrate");
    let n: u64 = 6_000;
    let mut cfg = names.emitter(&s, 53, n, 0.02, false);
    cfg.batch_size = 20;
    emitter::run(cfg, std::future::pending()).await.unwrap();
    let (want, bad) = expected(&names, 53, 0..n, 0.02);
    let group = format!("--group={}g", names.prefix);
    // The static transformer dies between a write and its commit: the group must take both its positions and
    // what it wrote past them.
    let mut old = Binary::spawn(
        &names.transformer_args(&s, &[group.as_str(), "--fetch-max-bytes=4096", "--crash-before-commit=3"]),
    );
    old.exit(LIMIT).await;
    assert!(old.logged().contains("--crash-before-commit: aborting"), "{}", old.logged());
    let log = drain_binary(&s, &names, &["--assignment=group", group.as_str()]).await;
    assert!(log.contains("resuming from the checkpoint topic"), "{log}");
    assert!(already_written(&log) > 0, "the static run's uncommitted writes are found, not written again\n{log}");
    assert_outputs_exact(&s, &names, &want, bad).await;
    // From now on the group's offsets win: a second group run reads nothing again.
    let again = drain_binary(&s, &names, &["--assignment=group", group.as_str()]).await;
    assert!(!again.contains("resuming from the checkpoint topic"), "{again}");
    assert_outputs_exact(&s, &names, &want, bad).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_show_and_reset_speak_to_the_group() {
    let s = servers();
    let names = Names::new("goffsets");
    let n: u64 = 900;
    emitter::run(names.emitter(&s, 54, n, 0.0, false), std::future::pending()).await.unwrap();
    let group = format!("--group={}g", names.prefix);
    let flags = ["--assignment=group", group.as_str()];
    drain_binary(&s, &names, &flags).await;
    let run = |extra: &[&str]| run_binary(&names.transformer_args(&s, &[&flags[..], extra].concat()));
    let (code, shown) = run(&["offsets", "show"]);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.starts_with("group "), "{shown}");
    assert_eq!(shown.lines().filter(|l| l.starts_with("position ") && l.contains(" lag=0 ")).count(), 9, "{shown}");
    assert!(shown.lines().any(|l| l.starts_with("mark ")), "the marks of the group's last commit: {shown}");

    // A replay from the start, committed to the (empty) group: the next drain reads everything again.
    let (code, reset) = run(&["offsets", "reset", "--to", "earliest"]);
    assert_eq!(code, 0, "{reset}");
    assert!(reset.contains("written: the group's offsets"), "{reset}");
    let (_, shown) = run(&["offsets", "show"]);
    assert!(shown.lines().filter(|l| l.starts_with("position ")).all(|l| l.contains(" committed=0 ")), "{shown}");
    let log = drain_binary(&s, &names, &flags).await;
    assert!(log.contains(&format!("records_in={n}")), "replayed: {log}");

    // While a member is in the group, Kafka refuses an operator's commit: the reset says what to do.
    let member = Binary::spawn(&names.transformer_args(&s, &flags));
    eventually(LIMIT, "the member to join", || async {
        last_join(&member.logged()).map(|_| ()).ok_or_else(String::new)
    })
    .await;
    let (code, refused) = run(&["offsets", "reset", "--to", "earliest"]);
    assert_eq!(code, 1, "{refused}");
    assert!(refused.contains("stop every transformer of group"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_takes_its_partitions_back_at_once_and_a_second_one_with_its_id_stops_the_first() {
    let s = servers();
    let names = Names::new("static");
    let n: u64 = 10_000;
    emitter::run(names.emitter(&s, 55, n, 0.01, false), std::future::pending()).await.unwrap();
    let (want, bad) = expected(&names, 55, 0..n, 0.01);
    let group = format!("--group={}g", names.prefix);
    let flags = ["--assignment=group", group.as_str(), "--group-instance-id=etl-a", "--session-timeout-ms=10000"];
    let args = names.transformer_args(&s, &[&flags[..], &["--fetch-max-bytes=4096", "--fetch-max-wait-ms=5"]].concat());
    let mut first = Binary::spawn(&args);
    let written = || async { topic_len(&s, &names.output()).await + topic_len(&s, &names.dead()).await };
    eventually(LIMIT, "progress before the kill", || async {
        let w = written().await;
        (w >= n as i64 / 4).then_some(()).ok_or(format!("{w}"))
    })
    .await;
    first.kill();
    let restarted = std::time::Instant::now();
    let mut second = Binary::spawn(&args);
    eventually(LIMIT, "the restart to rejoin", || async {
        last_join(&second.logged()).map(|_| ()).ok_or_else(String::new)
    })
    .await;
    let back = restarted.elapsed();
    eprintln!("static member back after {} ms (session timeout 10000 ms)", back.as_millis());
    assert!(back < Duration::from_secs(8), "no wait for the session timeout: {back:?}");

    // A second process with the same instance id takes the place; the one it replaced stops, saying why, instead
    // of taking it back (the two would fence each other forever).
    let third = Binary::spawn(&args);
    let status = second.exit(LIMIT).await;
    let log = second.logged();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("--group-instance-id"), "{log}");
    everything_committed(&s, &names, n, &flags).await;
    let reported = fenced_written(&log);
    let all = [coordinates(&s, &names.output()).await, coordinates(&s, &names.dead()).await].concat();
    let doubled = duplicates(&all) as u64;
    eprintln!("replaced member: its last round wrote {reported}; {doubled} written twice");
    assert!(doubled <= reported, "{doubled} > {reported}");
    let topic: Vec<contract::processed::ProcessedEvent> = read_topic(&s, &names.output()).await;
    let ids: std::collections::HashSet<String> = topic.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(ids, want, "nothing lost");
    let letters: std::collections::HashSet<_> = coordinates(&s, &names.dead()).await.into_iter().collect();
    assert_eq!(letters.len() as u64, bad);
    drop(third);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_recreated_while_the_group_is_down_is_read_from_its_start_out_loud() {
    let s = servers();
    let names = Names::new("grecreate");
    names.init_topics(&s).await;
    let topic = names.raw()[2].clone(); // orders
    let group = format!("--group={}g", names.prefix);
    let flags = ["--assignment=group", group.as_str()];
    produce(&s, &topic, 0, &orders("old", 300)).await;
    drain_binary(&s, &names, &flags).await;

    // Deleting a topic deletes the group's offsets with it. The new topic grows past the old position before any
    // member looks (400 > 300): a position check alone could not tell, the vanished offset does.
    let client = kafka(&s).await;
    let controller = client.controller_client().unwrap();
    controller.delete_topic(&topic, 10_000).await.unwrap();
    controller.create_topic(&topic, 3, 1, 10_000).await.unwrap();
    produce(&s, &topic, 0, &orders("new", 400)).await;
    let log = drain_binary(&s, &names, &flags).await;
    assert!(log.contains("committed offset is gone") && log.contains("resuming at the log start"), "{log}");

    let out: Vec<contract::processed::ProcessedEvent> = read_topic(&s, &names.output()).await;
    let users: std::collections::HashSet<String> = out.iter().map(|e| e.user_id.clone()).collect();
    assert_eq!(out.len(), 700, "each old and each new record once");
    assert_eq!(users.iter().filter(|u| u.starts_with("new-")).count(), 400, "every new record");
}
