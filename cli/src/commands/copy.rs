//! `copy --from URL --to URL [--prefix P]`: every session of one store written into another.

use std::time::Instant;

use super::for_each_session;
use crate::args::{Speed, StoreOptions};
use crate::failure::Failure;
use crate::progress;
use crate::target::{Access, Target};
use crate::writes::Writes;

pub async fn run(
    options: &StoreOptions,
    from: &str,
    to: &str,
    prefix: &str,
    speed: Speed,
) -> Result<(), Failure> {
    let (source, destination) = (Target::parse(from, options)?, Target::parse(to, options)?);
    if source.is_same_as(&destination) {
        return Err(Failure::usage(format!(
            "--from and --to both name {source}: copy into another store"
        )));
    }
    let from_store = source.open(options, Access::Existing).await?;
    let to_store = destination.open(options, Access::Create).await?;
    let started = Instant::now();
    let bar = progress::sessions("copying", true);
    let mut writes = Writes::new(to_store);
    let copied = for_each_session(
        &*from_store,
        prefix,
        options.page_size,
        speed,
        &mut async |session| {
            writes.write(session).await?;
            bar.set_position(writes.written());
            Ok(())
        },
    )
    .await;
    let finished = writes.finish().await;
    bar.finish_and_clear();
    copied?;
    let (written, skipped) = finished?;
    let elapsed = started.elapsed();
    eprintln!(
        "copied {written} sessions from {source} to {destination} in {elapsed:.1?} ({:.0} sessions/s){}",
        written as f64 / elapsed.as_secs_f64().max(1e-9),
        if skipped > 0 {
            format!("; {skipped} expired during the copy and were left out")
        } else {
            String::new()
        }
    );
    Ok(())
}
