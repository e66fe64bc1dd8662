//! `purge-expired`: deletes the expired sessions a store keeps until it sweeps them.

use serde_json::json;

use super::Opened;
use crate::failure::Failure;
use crate::output::Output;
use crate::target::Target;

pub async fn run(opened: &Opened, json: bool) -> Result<(), Failure> {
    let purged = opened.store.purge_expired().await?;
    let mut out = Output::new();
    if json {
        out.line(&json!({"purged": purged}).to_string())?;
    } else {
        out.line(&format!("purged {purged} expired sessions"))?;
    }
    out.flush()?;
    if matches!(opened.target, Target::Redis(_) | Target::RedisCluster(_)) {
        eprintln!("Redis removes expired sessions itself: there is nothing to purge");
    }
    Ok(())
}
