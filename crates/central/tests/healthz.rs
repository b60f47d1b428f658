//! `/healthz`: 200 while the database answers at the schema this build has, 503 saying why
//! otherwise; no token needed, nothing about any hub in the answer.

mod support;

use support::*;

async fn get(url: &str) -> (u16, serde_json::Value) {
    let answer = reqwest::get(url).await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap())
}

#[tokio::test]
async fn healthz_says_ok_at_the_current_schema_and_why_not_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let central = Central::start(&tmp.path().join("central"), SimClock::new()).await;
    let url = format!("{}/healthz", central.url());
    let schema: u32 = central
        .storage
        .with_conn(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
        .unwrap();
    assert!(schema > 0);

    let (status, body) = get(&url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["schema"], schema);

    // Another build's process took the schema back (or had not migrated yet).
    let set = |v: u32| {
        central
            .storage
            .with_conn(|c| c.execute_batch(&format!("PRAGMA user_version = {v}")))
            .unwrap()
    };
    set(schema - 1);
    let (status, body) = get(&url).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("schema {}", schema - 1)),
        "{reason}"
    );
    assert!(reason.contains("restart"), "{reason}");

    // A newer build migrated it further.
    set(schema + 1);
    let (status, body) = get(&url).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["reason"].as_str().unwrap().contains("newer"), "{body}");

    set(schema);
    assert_eq!(get(&url).await.0, 200);
}
