//! Renewing a lease while its update runs: only while the lease key still holds the update's
//! token is its expiry moved, atomically (a script), so a lease that expired and was taken by
//! another process is never extended.

use std::time::Duration;

use crate::error::{StorageError, StorageOp};
use crate::storage::Lease;

use super::token::LeaseToken;
use super::{RedisStorage, millis, query};

/// `1` when the lease key held the token and now expires after the given milliseconds, `0`
/// when it holds another token or none.
const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                     return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

impl RedisStorage {
    pub(super) async fn renew(
        &self,
        key: &str,
        lease: Lease,
        duration: Duration,
    ) -> Result<bool, StorageError> {
        self.check_key(StorageOp::Lock, key)?;
        let lease_key = self.keys.lease_parts(key.as_bytes()).concat();
        let token = LeaseToken::new(lease.ticket, lease.nonce);
        let mut cmd = ::redis::cmd("EVAL");
        cmd.arg(RENEW)
            .arg(1)
            .arg(lease_key)
            .arg(token.as_bytes())
            .arg(millis(duration));
        // Renewing twice is harmless, so a failed connection is tried once more.
        self.run(StorageOp::Lock, |conn| query::<i64>(&cmd, conn))
            .await
            .map(|renewed| renewed == 1)
    }
}
