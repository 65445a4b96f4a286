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
    };
    Member::new(settings, vec![s.brokers.clone()], runtime::security::Security::default())
}

/// Heartbeats `m` until the coordinator says the group rebalances (or fenced us), then rejoins.
async fn rejoin_on_rebalance(m: &Member, topics: &[String], parts: &[(String, i32)]) -> runtime::group::Generation {
    loop {
        match m.heartbeat().await.unwrap() {
            Beat::Ok => tokio::time::sleep(Duration::from_millis(200)).await,
            Beat::Rebalance | Beat::Fenced => return m.join(topics, parts).await.unwrap(),
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
    drop((b, c));
}
