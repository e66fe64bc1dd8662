//! Bringing every stored session of a type to its current schema version at once, instead of
//! one by one as updates touch them.

use crate::admin::edit::{self, Plan};
use crate::admin::error::AdminError;
use crate::admin::sessions::Sessions;
use crate::session::Session;
use crate::stored::StoredBytes;

/// How many failures a [`MigrationReport`] keeps the errors of.
const KEPT_ERRORS: usize = 100;

/// What [`Sessions::migrate_all`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct MigrationReport {
    /// Sessions listed.
    pub examined: u64,
    /// Sessions migrated and stored in the current version.
    pub migrated: u64,
    /// Sessions that were in the current version already (or were migrated by an update
    /// meanwhile).
    pub current: u64,
    /// Sessions stored by a newer build of the bot: left as they are.
    pub newer: u64,
    /// Sessions whose migration failed (the migration's error, bytes that do not decode, a
    /// store failure): left as they are.
    pub failed: u64,
    /// The errors of the first 100 failures, each naming its key.
    pub errors: Vec<AdminError>,
}

impl<S: Session> Sessions<S> {
    /// Migrates every stored session of `S` that an older schema version wrote to the current
    /// version (through the type's `migrate` function) and stores it, so that no update pays
    /// for it later and the old layout can be dropped from the code once this reports no
    /// failure.
    ///
    /// Sessions are listed page by page; each one in an older version is then taken as an
    /// update takes it, read afresh, migrated and written back with the updates it remembers.
    /// Safe while the bot runs, and safe to run again: sessions in the current version cost a
    /// listing and nothing else. A session that fails is counted, kept in the report, and
    /// left as it was; the run goes on. A failing listing ends it with an error; run it again.
    pub async fn migrate_all(&self) -> Result<MigrationReport, AdminError> {
        let mut report = MigrationReport::default();
        let mut listing = self.list();
        while let Some(page) = listing.next_stored().await? {
            for stored in page {
                report.examined += 1;
                let version = StoredBytes::parse(&stored.value).version();
                if version > S::VERSION {
                    report.newer += 1;
                    continue;
                }
                if version == S::VERSION {
                    report.current += 1;
                    continue;
                }
                match self.migrate_one(&stored.key).await {
                    Ok(true) => report.migrated += 1,
                    Ok(false) => report.current += 1,
                    Err(err) => {
                        report.failed += 1;
                        if report.errors.len() < KEPT_ERRORS {
                            report.errors.push(err.into());
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    /// Migrates the session under the stored key `key` if it is still in an older version;
    /// `true` when it was.
    async fn migrate_one(&self, key: &str) -> Result<bool, crate::error::SessionError> {
        edit::edit(&self.shared, key, |current| {
            let older = current
                .version()
                .is_some_and(|version| version < S::VERSION);
            match current.value()? {
                Some(value) if older => Ok((Plan::Store(value), true)),
                _ => Ok((Plan::Keep, false)),
            }
        })
        .await
    }
}
