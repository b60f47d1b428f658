//! The search's two ways to a key: a rare one looked up first, a common one (on more than
//! `COMMON_KEY` returns, a best-selling SKU) checked per return while pages are read newest
//! first, its total counted only that far. Both give the returns the key is on.

use returnhub_core::model::ReturnStatus;
use returnhub_store::{ReturnQuery, Store, COMMON_KEY};

fn connote(n: u64) -> String {
    format!("LZ{n:09}NZ")
}

#[test]
fn a_common_key_and_a_rare_one_both_find_their_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.sqlite3");
    let returns = COMMON_KEY as u64 + 20;
    returnhub_store::bulk::generate(
        &path,
        &returnhub_store::bulk::BulkReturns {
            returns,
            items_per_return: 1,
            retailer_id: "r1",
            hub_id: "AKL",
            connote: &connote,
        },
    );
    let store = Store::open(&path).unwrap();
    let query = |key: &str| ReturnQuery {
        key: Some(key.into()),
        limit: 50,
        ..ReturnQuery::default()
    };
    // Every return has SKU-0: common.
    let common = store.search_returns(&query("SKU-0")).unwrap();
    assert!(common.at_least);
    assert_eq!(common.total, COMMON_KEY as u64 + 1);
    assert_eq!(common.hits.len(), 50);
    // With a filter that finds none, none (the per-return check stops at nothing wrong).
    let none = store
        .search_returns(&ReturnQuery {
            status: Some(ReturnStatus::Processed),
            ..query("SKU-0")
        })
        .unwrap();
    assert_eq!((none.hits.len(), none.total), (0, 0));
    // Pages of a common key do not repeat a return.
    let second = store
        .search_returns(&ReturnQuery {
            offset: 50,
            ..query("SKU-0")
        })
        .unwrap();
    assert!(second
        .hits
        .iter()
        .all(|h| !common.hits.iter().any(|c| c.return_id == h.return_id)));
    // A rare key: exact, counted in full.
    let rare = store.search_returns(&query(&connote(7))).unwrap();
    assert!(!rare.at_least);
    assert_eq!(rare.total, 1);
    assert_eq!(rare.hits[0].return_id, "bulk-ret7");
    assert_eq!(rare.hits[0].connote.as_deref(), Some(connote(7).as_str()));
    let by_number = store.search_returns(&query("B7")).unwrap();
    assert_eq!(by_number.hits[0].return_id, "bulk-ret7");
}
