//! Who is online: sessions with leases, as plain data. Time is passed in, so tests need no clock.

use std::collections::HashMap;

/// Online sessions per (app_id, user_id). A session lives until its lease lapses without a
/// refresh, so an IM node that crashes cannot leave its users "online" for ever.
#[derive(Debug, Default)]
pub struct Sessions {
    users: HashMap<(String, String), HashMap<String, u64>>,
}

impl Sessions {
    /// Starts or refreshes a session until `now_ms + ttl_ms`.
    pub fn online(&mut self, app_id: &str, user_id: &str, session_id: &str, until_ms: u64) {
        self.users
            .entry((app_id.to_owned(), user_id.to_owned()))
            .or_default()
            .insert(session_id.to_owned(), until_ms);
    }

    pub fn offline(&mut self, app_id: &str, user_id: &str, session_id: &str) {
        let key = (app_id.to_owned(), user_id.to_owned());
        if let Some(sessions) = self.users.get_mut(&key) {
            sessions.remove(session_id);
            if sessions.is_empty() {
                self.users.remove(&key);
            }
        }
    }

    /// True if any of the user's sessions holds a lease at `now_ms`.
    pub fn is_online(&self, app_id: &str, user_id: &str, now_ms: u64) -> bool {
        self.live(app_id, user_id, now_ms) > 0
    }

    /// How many of the user's sessions hold a lease at `now_ms`.
    pub fn live(&self, app_id: &str, user_id: &str, now_ms: u64) -> usize {
        // Looking up with borrowed strs would need a custom key type; the clone is two short ids.
        self.users
            .get(&(app_id.to_owned(), user_id.to_owned()))
            .map_or(0, |s| s.values().filter(|&&until| until > now_ms).count())
    }

    /// The user's live sessions and when each lease ends, soonest first.
    pub fn of(&self, app_id: &str, user_id: &str, now_ms: u64) -> Vec<(String, u64)> {
        let key = (app_id.to_owned(), user_id.to_owned());
        let mut live: Vec<(String, u64)> = self.users.get(&key).map_or_else(Vec::new, |s| {
            let live = s.iter().filter(|(_, until)| **until > now_ms);
            live.map(|(id, until)| (id.clone(), *until)).collect()
        });
        live.sort_by_key(|(_, until)| *until);
        live
    }

    /// Drops lapsed sessions so memory follows the online population, not its history.
    pub fn sweep(&mut self, now_ms: u64) -> usize {
        let mut dropped = 0;
        self.users.retain(|_, sessions| {
            let before = sessions.len();
            sessions.retain(|_, until| *until > now_ms);
            dropped += before - sessions.len();
            !sessions.is_empty()
        });
        dropped
    }

    pub fn len(&self) -> usize {
        self.users.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_lapses_without_refresh() {
        let mut s = Sessions::default();
        s.online("a", "u", "s1", 10_000);
        assert!(s.is_online("a", "u", 9_999));
        assert!(!s.is_online("a", "u", 10_000));
        s.online("a", "u", "s1", 20_000); // refresh
        assert!(s.is_online("a", "u", 15_000));
        assert!(!s.is_online("b", "u", 15_000), "apps are separate");
    }

    #[test]
    fn offline_ends_one_session_of_several() {
        let mut s = Sessions::default();
        s.online("a", "u", "phone", 10_000);
        s.online("a", "u", "desk", 10_000);
        s.offline("a", "u", "phone");
        assert!(s.is_online("a", "u", 1));
        s.offline("a", "u", "desk");
        assert!(!s.is_online("a", "u", 1));
        assert!(s.is_empty());
    }

    #[test]
    fn sweep_drops_lapsed() {
        let mut s = Sessions::default();
        s.online("a", "u", "s1", 5);
        s.online("a", "v", "s1", 50);
        assert_eq!(s.sweep(10), 1);
        assert_eq!(s.len(), 1);
    }
}
