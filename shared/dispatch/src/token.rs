//! An auth token shared by every in-flight request of one vendor client: fetched once,
//! refreshed a margin before it expires, never stampeded (one refresh while the others wait).

use std::future::Future;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct TokenCache {
    margin: Duration,
    current: Mutex<Option<(String, Instant)>>,
}

impl TokenCache {
    /// `margin`: how long before expiry a token stops being handed out.
    pub fn new(margin: Duration) -> Self {
        TokenCache {
            margin,
            current: Mutex::new(None),
        }
    }

    /// The cached token, or a fresh one from `fetch` (which returns the token and its lifetime).
    pub async fn get<E, F, Fut>(&self, fetch: F) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(String, Duration), E>>,
    {
        let mut current = self.current.lock().await;
        if let Some((token, expires)) = current.as_ref() {
            if Instant::now() + self.margin < *expires {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = fetch().await?;
        *current = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    /// The vendor refused `stale`: forget it, unless another request already replaced it.
    pub async fn invalidate(&self, stale: &str) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|(t, _)| t == stale) {
            *current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    async fn fetch(n: &AtomicU32) -> Result<(String, Duration), ()> {
        let i = n.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok((format!("t{i}"), Duration::from_secs(3600)))
    }

    #[tokio::test(start_paused = true)]
    async fn one_fetch_for_concurrent_callers_and_refresh_before_expiry() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(300)));
        let fetches = Arc::new(AtomicU32::new(0));
        let mut handles = Vec::new();
        for _ in 0..10 {
            let (c, f) = (cache.clone(), fetches.clone());
            handles.push(tokio::spawn(
                async move { c.get(|| fetch(&f)).await.unwrap() },
            ));
        }
        for h in handles {
            assert_eq!(h.await.unwrap(), "t0");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "no stampede");

        tokio::time::advance(Duration::from_secs(3299)).await;
        assert_eq!(cache.get(|| fetch(&fetches)).await.unwrap(), "t0");
        tokio::time::advance(Duration::from_secs(2)).await; // inside the 300 s margin
        assert_eq!(cache.get(|| fetch(&fetches)).await.unwrap(), "t1");
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_spares_a_newer_token() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let fetches = AtomicU32::new(0);
        assert_eq!(cache.get(|| fetch(&fetches)).await.unwrap(), "t0");
        cache.invalidate("t0").await;
        assert_eq!(cache.get(|| fetch(&fetches)).await.unwrap(), "t1");
        cache.invalidate("t0").await; // a late complaint about the old token
        assert_eq!(cache.get(|| fetch(&fetches)).await.unwrap(), "t1");
    }
}
