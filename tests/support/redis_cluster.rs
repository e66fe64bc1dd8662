//! The Redis Cluster `scripts/services.sh` starts (3 masters with a replica each), seen from
//! outside the store: its nodes and their roles, for tests that fail a master over and clean
//! up after themselves.

use super::redis_server::{command, delete_prefix};
use super::server_url;

/// The cluster's node URLs from `BOT_SESSION_REDIS_CLUSTER_URLS` (comma-separated); `None`
/// (locally) when it is not set.
pub fn urls() -> Option<Vec<String>> {
    let urls = server_url("BOT_SESSION_REDIS_CLUSTER_URLS", "a Redis Cluster")?;
    Some(urls.split(',').map(|url| url.trim().to_owned()).collect())
}

/// The port of a `redis://host:port[/db]` URL.
pub fn port(url: &str) -> u16 {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let addr = rest.split('/').next().unwrap_or(rest);
    addr.rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in the cluster node URL `{url}`"))
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub port: u16,
    pub is_master: bool,
    /// For a replica, the id of its master.
    pub master_id: Option<String>,
    /// Whether it serves any slot (a master that does).
    pub serves_slots: bool,
}

/// The nodes as the node on `port` sees them.
pub fn nodes(port: u16) -> Vec<Node> {
    command(port, None, &["CLUSTER", "NODES"])
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [id, addr, flags, master, ..] = fields[..] else {
                return None;
            };
            let port = addr.split('@').next()?.rsplit_once(':')?.1.parse().ok()?;
            Some(Node {
                id: id.to_owned(),
                port,
                is_master: flags.split(',').any(|flag| flag == "master"),
                master_id: (master != "-").then(|| master.to_owned()),
                serves_slots: fields.len() > 8,
            })
        })
        .collect()
}

/// The `field` of `INFO replication` on the node at `port` (`role`, `master_link_status`).
pub fn replication(port: u16, field: &str) -> Option<String> {
    command(port, None, &["INFO", "replication"])
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .map(|value| value.trim().to_owned())
}

/// Deletes the keys of the store with `prefix` on every master (cluster keys are
/// `{<prefix>...`, see the store's docs), for test clean-up. Best effort.
pub fn delete_prefix_everywhere(urls: &[String], prefix: &str) {
    let Some(first) = urls.first() else {
        return;
    };
    for node in nodes(port(first)) {
        if node.is_master {
            delete_prefix(
                &format!("redis://127.0.0.1:{}/0", node.port),
                &format!("{{{prefix}"),
            );
        }
    }
}
