//! Admission of AGV connections before access: how many connections each IP address has that
//! have not completed access yet (`--max-pending-per-peer`), so that a peer holding many silent
//! sockets cannot take every connection permit from real AGVs. With the access timeout
//! (`--access-timeout-ms`) a silent socket holds its permit only briefly.

use std::collections::HashMap;
use std::net::IpAddr;

use parking_lot::Mutex;

/// Pending (not yet accessed) connections by peer address.
#[derive(Debug, Default)]
pub struct Admission {
    /// Addresses with at least one pending connection (none kept at zero).
    pending: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection counted as pending for its address until it is dropped (access completed or
/// the connection ended).
#[derive(Debug)]
pub struct PendingGuard<'a> {
    admission: &'a Admission,
    ip: IpAddr,
}

impl Admission {
    /// Counts a new connection from `ip` as pending, unless `ip` already has `limit` pending
    /// connections (`limit` 0: no limit); `None` when refused.
    pub fn admit(&self, ip: IpAddr, limit: usize) -> Option<PendingGuard<'_>> {
        let mut pending = self.pending.lock();
        let n = pending.entry(ip).or_insert(0);
        if limit > 0 && *n >= limit {
            return None;
        }
        *n += 1;
        Some(PendingGuard {
            admission: self,
            ip,
        })
    }

    /// Pending connections from `ip`.
    pub fn pending(&self, ip: IpAddr) -> usize {
        self.pending.lock().get(&ip).copied().unwrap_or(0)
    }

    /// Addresses with pending connections.
    pub fn addresses(&self) -> usize {
        self.pending.lock().len()
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut pending = self.admission.pending.lock();
        if let Some(n) = pending.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                pending.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_pending_connections_per_address_and_forgets_idle_addresses() {
        let a = Admission::default();
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        let two: IpAddr = "10.0.0.2".parse().unwrap();
        let g1 = a.admit(one, 2).unwrap();
        let g2 = a.admit(one, 2).unwrap();
        assert!(
            a.admit(one, 2).is_none(),
            "a third pending connection is refused"
        );
        let other = a.admit(two, 2).expect("another address has its own count");
        assert_eq!(a.pending(one), 2);
        drop(g1);
        let g3 = a.admit(one, 2).expect("a slot is free again");
        drop((g2, g3, other));
        assert_eq!(
            a.addresses(),
            0,
            "no entry is kept for addresses with none pending"
        );
        // a refused admission does not leave an entry behind either
        let a = Admission::default();
        let _g = a.admit(one, 1).unwrap();
        assert!(a.admit(one, 1).is_none());
        assert_eq!(a.pending(one), 1);
        assert!(a.admit(two, 0).is_some(), "0 is no limit");
    }
}
