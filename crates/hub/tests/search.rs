//! A supervisor finds past returns on the demo hub: by each key (connote, order number with or
//! without '#', email in any case, SKU, EAN), narrowed by retailer, status, days and the person
//! who worked on it, a page at a time; an operator may not search.

mod support;

use std::path::Path;

use returnhub_core::model::ReturnStatus;
use returnhub_hub::{ErrorCode, ErrorView, Hub, HubOptions, ReturnSearch, SEARCH_PAGE};

const NOW: i64 = 1_795_461_900_000; // 2026-11-23T19:25:00Z

fn demo_hub(dir: &Path) -> Hub {
    Hub::open_with_clock(HubOptions::demo(dir), Box::new(|| NOW)).unwrap()
}

fn one<T: rusqlite::types::FromSql>(hub: &Hub, sql: &str) -> T {
    hub.with_store(|s| s.reader().query_row(sql, [], |r| r.get(0)).unwrap())
}

fn found(hub: &Hub, search: ReturnSearch) -> Vec<String> {
    hub.search_returns(search)
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.return_id)
        .collect()
}

fn by_key(key: &str) -> ReturnSearch {
    ReturnSearch {
        key: key.into(),
        ..ReturnSearch::default()
    }
}

#[test]
fn a_supervisor_finds_a_return_by_each_key_and_narrows_the_search() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    hub.sign_in("OP-1001", "1111").unwrap();
    let refused = ErrorView::from(hub.search_returns(by_key("x")).unwrap_err());
    assert_eq!(refused.code, ErrorCode::Forbidden);

    // A return with an item whose line has an EAN, and the operator receives it.
    let (return_id, connote, number, email, sku, ean): (
        String,
        String,
        String,
        String,
        String,
        String,
    ) = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT r.id, c.connote, o.order_number, o.email, l.sku, l.ean
                 FROM returns r JOIN connotes c ON c.return_id = r.id
                 JOIN orders o ON o.id = r.order_id
                 JOIN return_items i ON i.return_id = r.id
                 JOIN order_lines l ON l.id = i.order_line_id
                 WHERE r.hub_id = 'AKL' AND r.status = 'expected' AND l.ean IS NOT NULL
                 ORDER BY r.id LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .unwrap()
    });
    hub.scan(&connote).unwrap();
    hub.sign_in("SV-2001", "2222").unwrap();

    for key in [
        connote.clone(),
        number.clone(),
        number.trim_start_matches('#').to_owned(),
        email.to_uppercase(),
        sku.clone(),
        ean.clone(),
    ] {
        assert!(
            found(&hub, by_key(&key)).contains(&return_id),
            "{key} finds {return_id}"
        );
    }
    // A SKU as a shop spells it (lower case, a space) is found as typed.
    let conn = rusqlite::Connection::open(dir.path().join("returnhub.db")).unwrap();
    conn.execute(
        "UPDATE order_lines SET sku = 'tee-Blue m' WHERE sku = ?1",
        [&sku],
    )
    .unwrap();
    drop(conn);
    assert!(found(&hub, by_key("tee-Blue m")).contains(&return_id));
    // A key that is none of those finds nothing.
    let none = hub.search_returns(by_key("no-such-thing")).unwrap();
    assert_eq!((none.hits.len(), none.total), (0, 0));

    // Narrowed: the received one by its status, its retailer, today, and its operator.
    let retailer: String = one(
        &hub,
        &format!("SELECT retailer_id FROM returns WHERE id = '{return_id}'"),
    );
    let operator: String = one(&hub, "SELECT id FROM users WHERE badge = 'OP-1001'");
    let narrowed = ReturnSearch {
        retailer_id: Some(retailer),
        status: Some(ReturnStatus::Received),
        from: Some("2026-11-23".into()),
        to: Some("2026-11-23".into()),
        operator: Some(operator),
        ..ReturnSearch::default()
    };
    assert_eq!(
        found(&hub, narrowed.clone()),
        std::slice::from_ref(&return_id)
    );
    // Each part narrows: another day, another status, another person find nothing.
    for other in [
        ReturnSearch {
            from: Some("2026-11-24".into()),
            to: None,
            ..narrowed.clone()
        },
        ReturnSearch {
            status: Some(ReturnStatus::Processed),
            ..narrowed.clone()
        },
        ReturnSearch {
            operator: Some("u-nobody".into()),
            ..narrowed.clone()
        },
    ] {
        assert!(found(&hub, other.clone()).is_empty(), "{other:?}");
    }
    let bad_day = ReturnSearch {
        from: Some("23/11/2026".into()),
        ..ReturnSearch::default()
    };
    let refused = ErrorView::from(hub.search_returns(bad_day).unwrap_err());
    assert_eq!(refused.code, ErrorCode::Invalid);
    assert!(
        refused.message.contains("YYYY-MM-DD"),
        "{}",
        refused.message
    );

    // Pages: every return of the hub once, newest change first (the received one leads).
    let all: u64 = one::<i64>(&hub, "SELECT count(*) FROM returns") as u64;
    let first = hub.search_returns(ReturnSearch::default()).unwrap();
    assert_eq!(first.total, all);
    assert_eq!(first.page_size, SEARCH_PAGE);
    assert_eq!(first.hits[0].return_id, return_id);
    assert!(!first.retailers.is_empty() && !first.people.is_empty());
    let mut seen = std::collections::BTreeSet::new();
    let pages = all.div_ceil(u64::from(SEARCH_PAGE)) as u32;
    for page in 0..pages {
        let hits = hub
            .search_returns(ReturnSearch {
                page,
                ..ReturnSearch::default()
            })
            .unwrap()
            .hits;
        for hit in hits {
            assert!(seen.insert(hit.return_id), "each return once");
        }
    }
    assert_eq!(seen.len() as u64, all);
    let oldest = hub
        .search_returns(ReturnSearch {
            oldest_first: true,
            ..ReturnSearch::default()
        })
        .unwrap();
    assert_ne!(oldest.hits[0].return_id, return_id);
}

/// A return's timeline, from its upload to its action: each event with who, station, device
/// and HLC stamp, the carrier's events relayed for it, the notice to the retailer's webhook
/// and the action's attempts, in time order; refused to an operator.
#[test]
fn a_returns_timeline_follows_it_from_upload_to_action() {
    use returnhub_protocol::wire::{SyncCursor, TrackingRecord};
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    // A minute passes between any two things the hub does, so their order shows in time.
    let clock = Arc::new(AtomicI64::new(NOW));
    let ticks = clock.clone();
    let hub = Hub::open_with_clock(
        HubOptions::demo(dir.path()),
        Box::new(move || ticks.fetch_add(60_000, Ordering::SeqCst)),
    )
    .unwrap();
    let (return_id, connote, item): (String, String, String) = hub.with_store(|s| {
        s.reader()
            .query_row(
                "SELECT r.id, c.connote, i.id FROM returns r
                 JOIN connotes c ON c.return_id = r.id JOIN return_items i ON i.return_id = r.id
                 WHERE r.hub_id = 'AKL' AND r.status = 'expected' AND r.retailer_id = 'kowhai'
                   AND (SELECT count(*) FROM return_items j WHERE j.return_id = r.id) = 1
                 ORDER BY r.id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    });
    // The retailer wants tracking notices (queued at the receipt; never sent here).
    hub.sign_in("AD-3001", "3333").unwrap();
    hub.save_tracking_webhooks(
        "kowhai",
        vec![returnhub_hub::TrackingWebhookInput {
            url: "https://hooks.example.com/returns".into(),
            username: None,
            password: None,
            clear_password: false,
            insecure: false,
        }],
    )
    .unwrap();
    // The carrier's in-transit event, relayed by the central store.
    let mut store = returnhub_store::Store::open(&dir.path().join("returnhub.db")).unwrap();
    store
        .apply_remote_page(
            NOW,
            &[],
            &[TrackingRecord {
                id: "trk-1".into(),
                return_id: Some(return_id.clone()),
                connote: connote.clone(),
                code: "RT".into(),
                status: "In transit".into(),
                // On its way, after the upload and before the hub receives it.
                event_at: returnhub_core::time::rfc3339(clock.load(Ordering::SeqCst) + 30_000),
                source: "nzpost".into(),
            }],
            SyncCursor {
                events: 0,
                tracking: 1,
            },
        )
        .unwrap();
    drop(store);

    hub.sign_in("OP-1001", "1111").unwrap();
    hub.scan(&connote).unwrap();
    // Passed with a photo of the item.
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(8, 8, image::Rgb([40, 90, 200])))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let photo = hub.add_photo(&png).unwrap().hash;
    let mut inspection = support::passed(&return_id, &item);
    inspection.photos = vec![photo.clone()];
    hub.inspect_item(inspection).unwrap();
    hub.process_return(&return_id).unwrap();
    let refused = ErrorView::from(hub.return_timeline(&return_id).unwrap_err());
    assert_eq!(refused.code, ErrorCode::Forbidden);

    hub.sign_in("SV-2001", "2222").unwrap();
    let timeline = hub.return_timeline(&return_id).unwrap();
    let lines: Vec<String> = timeline
        .iter()
        .map(|e| format!("{} | {} | {}", e.kind, e.who, e.what))
        .collect();
    let position = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {lines:#?}"))
    };
    let order = [
        position("Return expected"),
        position("Carrier: RT In transit"),
        position(&format!("Scanned {connote}")),
        position("Status expected → received"),
        position("Told RC"),
        position("Status received → processed"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{lines:#?}");
    // The decision with its explanation: how the retailer's policy played out.
    let decided = &lines[position("by customer's choice")];
    assert!(
        decided.contains("no rule matched: the customer's choice applies"),
        "{decided}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("action | ") && l.contains("pending after 0 attempt(s)")),
        "{lines:#?}"
    );
    // Every event of the log is there, with its device and HLC stamp.
    let events = timeline.iter().filter(|e| e.kind == "event").count() as i64;
    let logged: i64 = one(
        &hub,
        &format!("SELECT count(*) FROM events WHERE aggregate_id = '{return_id}'"),
    );
    assert_eq!(events, logged);
    for e in timeline.iter().filter(|e| e.kind == "event") {
        assert!(e.device.is_some() && e.hlc.as_deref().is_some_and(|h| !h.is_empty()));
    }
    // The inspection's photo is on its line, and only there.
    let with_photos: Vec<&Vec<String>> = timeline
        .iter()
        .filter(|e| !e.photos.is_empty())
        .map(|e| &e.photos)
        .collect();
    assert_eq!(with_photos, [&vec![photo.clone()]], "{lines:#?}");
    assert!(hub
        .photo_data_url(&photo)
        .unwrap()
        .starts_with("data:image/jpeg;base64,"));
    let scanned = &timeline[position(&format!("Scanned {connote}"))];
    assert_eq!(scanned.who, "Aroha Ngata");
    assert!(scanned.station.is_some());
    // In time order.
    let times: Vec<i64> = timeline
        .iter()
        .map(|e| returnhub_core::time::parse_rfc3339(&e.at).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{lines:#?}");
    let missing = ErrorView::from(hub.return_timeline("no-such-return").unwrap_err());
    assert_eq!(missing.code, ErrorCode::NotFound);
}

/// A supervisor cancels a return that has not reached the hub, with a reason: refused to an
/// operator, without a reason, and for a return already received; afterwards its scan says
/// cancelled, nothing can process or close it, and its timeline says why.
#[test]
fn a_supervisor_cancels_a_return_that_has_not_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    let expected = |skip: i64| -> (String, String) {
        hub.with_store(|s| {
            s.reader()
                .query_row(
                    "SELECT r.id, c.connote FROM returns r JOIN connotes c ON c.return_id = r.id
                     WHERE r.hub_id = 'AKL' AND r.status = 'expected'
                     ORDER BY r.id LIMIT 1 OFFSET ?1",
                    [skip],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap()
        })
    };
    let (return_id, connote) = expected(0);
    let (received, received_connote) = expected(1);
    hub.sign_in("OP-1001", "1111").unwrap();
    hub.scan(&received_connote).unwrap();
    let refused = ErrorView::from(hub.cancel_return(&return_id, "kept it").unwrap_err());
    assert_eq!(refused.code, ErrorCode::Forbidden);

    hub.sign_in("SV-2001", "2222").unwrap();
    let no_reason = ErrorView::from(hub.cancel_return(&return_id, "  ").unwrap_err());
    assert_eq!(no_reason.code, ErrorCode::Invalid);
    let arrived = ErrorView::from(hub.cancel_return(&received, "kept it").unwrap_err());
    assert_eq!(arrived.code, ErrorCode::Conflict);
    assert!(
        arrived.message.contains("close it instead"),
        "{}",
        arrived.message
    );

    // An action due for it already (recorded by another station, say), not yet sent.
    let item: String = one(
        &hub,
        &format!("SELECT id FROM return_items WHERE return_id = '{return_id}' LIMIT 1"),
    );
    let retailer: String = one(
        &hub,
        &format!("SELECT retailer_id FROM returns WHERE id = '{return_id}'"),
    );
    let currency: String = one(
        &hub,
        &format!("SELECT currency FROM retailers WHERE id = '{retailer}'"),
    );
    let due = returnhub_core::trigger::actions_due(
        returnhub_core::trigger::Trigger::Manual,
        returnhub_core::trigger::ReturnEvent::Closed,
        &retailer,
        &return_id,
        &[returnhub_core::trigger::ItemOutcome {
            item_id: item,
            outcome: returnhub_core::rules::Outcome::Refund,
            amount: Some(returnhub_core::money::Money::new(
                1000,
                currency.parse().unwrap(),
            )),
        }],
    );
    assert_eq!(due.len(), 1);
    let mut store = returnhub_store::Store::open(&dir.path().join("returnhub.db")).unwrap();
    store
        .write(NOW, |tx| {
            tx.append(returnhub_store::EventInput {
                event: returnhub_protocol::event::DomainEvent::ActionDue(due[0].clone()),
                actor: "u-other".into(),
                station: None,
            })
        })
        .unwrap();
    drop(store);

    let done = hub
        .cancel_return(&return_id, "the customer kept it")
        .unwrap();
    assert_eq!(done.state.status, ReturnStatus::Cancelled);
    assert!(
        done.message.contains("1 action(s) stopped"),
        "{}",
        done.message
    );
    let stopped = hub.with_store(|s| s.action(&due[0].key).unwrap().unwrap());
    assert_eq!(stopped.state.as_str(), "failed");
    assert!(stopped
        .last_error
        .unwrap()
        .contains("cancelled by Sam Walker"));
    // A supervisor's Retry does not send it after all.
    let retry = ErrorView::from(hub.retry_action(due[0].key.as_str()).unwrap_err());
    assert_eq!(retry.code, ErrorCode::Conflict);
    assert_eq!(
        hub.scan(&connote).unwrap().verdict,
        returnhub_core::model::ScanVerdict::Cancelled
    );
    for refused in [
        hub.close_return(&return_id, "").unwrap_err(),
        hub.process_return(&return_id).unwrap_err(),
        hub.cancel_return(&return_id, "again").unwrap_err(),
    ] {
        assert_ne!(ErrorView::from(refused).code, ErrorCode::Failed);
    }
    let timeline = hub.return_timeline(&return_id).unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e.what.contains("Cancelled: the customer kept it") && e.who == "Sam Walker"),
        "{timeline:#?}"
    );
    let found = hub
        .search_returns(ReturnSearch {
            status: Some(ReturnStatus::Cancelled),
            key: connote,
            ..ReturnSearch::default()
        })
        .unwrap();
    assert_eq!(found.total, 1);
}

/// A search's returns as a CSV file (all of them, not a page): it opens with the `csv` crate,
/// its header is the documented one and its rows are the returns the store holds for it.
#[test]
fn a_search_exports_every_return_it_finds_to_csv() {
    let dir = tempfile::tempdir().unwrap();
    let hub = demo_hub(dir.path());
    hub.sign_in("OP-1001", "1111").unwrap();
    let refused = ErrorView::from(hub.export_returns_csv(ReturnSearch::default()).unwrap_err());
    assert_eq!(refused.code, ErrorCode::Forbidden);
    hub.sign_in("SV-2001", "2222").unwrap();
    for (search, sql) in [
        (ReturnSearch::default(), "SELECT count(*) FROM returns"),
        (
            ReturnSearch {
                status: Some(ReturnStatus::Expected),
                retailer_id: Some("kowhai".into()),
                ..ReturnSearch::default()
            },
            "SELECT count(*) FROM returns WHERE status = 'expected' AND retailer_id = 'kowhai'",
        ),
    ] {
        let file = hub.export_returns_csv(search).unwrap();
        let want: i64 = one(&hub, sql);
        assert_eq!(file.rows as i64, want);
        assert!(file
            .path
            .starts_with(&dir.path().join("exports").display().to_string()));
        let mut reader = csv::Reader::from_path(&file.path).unwrap();
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, returnhub_hub::SEARCH_CSV_HEADER);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len() as i64, want);
        let ids: std::collections::BTreeSet<&str> = rows.iter().map(|r| &r[0]).collect();
        assert_eq!(ids.len(), rows.len(), "each return once");
        for row in &rows {
            let status: String = one(
                &hub,
                &format!("SELECT status FROM returns WHERE id = '{}'", &row[0]),
            );
            assert_eq!(status, &row[6]);
            assert!(row[7].parse::<u32>().is_ok(), "items unformatted");
        }
    }
    // Both files are kept (made in the same second), and no half-written one beside them.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("exports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".csv")).count(),
        2,
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with(".partial")), "{names:?}");
}
