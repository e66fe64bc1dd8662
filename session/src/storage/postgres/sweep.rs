//! The background sweep of expired rows.

use std::sync::Weak;
use std::time::Duration;

use crate::error::StorageOp;

use super::sql::Query;
use super::store::Store;

/// The background sweep: a batch of expired rows every `every`, until the store is dropped.
pub(super) async fn sweep(store: Weak<Store>, every: Duration, batch: i64) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(store) = store.upgrade() else {
            return;
        };
        match store
            .execute(StorageOp::Purge, Query::Sweep, &[&batch])
            .await
        {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, table = store.table, "swept expired sessions"),
            Err(err) => tracing::warn!(error = %err, "postgres sweep of expired sessions failed"),
        }
    }
}
