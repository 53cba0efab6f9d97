//! Fetching `http(s)` task sources: timeouts, a size limit, retries, same-scheme redirects.

use std::time::Duration;

/// How `http(s)` task sources are fetched.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Largest body accepted.
    pub max_bytes: u64,
    /// Further attempts after a timeout, connection error or 5xx answer.
    pub retries: u32,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_bytes: 64 << 20,
            retries: 2,
        }
    }
}

/// An HTTP client with timeouts, a size limit, retries, and redirects only within the
/// original scheme (never to another scheme, never more than 5).
pub struct Fetcher {
    client: reqwest::Client,
    limits: FetchLimits,
}

impl Fetcher {
    pub fn new(limits: FetchLimits) -> Result<Fetcher, String> {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let same_scheme = attempt
                .previous()
                .first()
                .is_some_and(|first| first.scheme() == attempt.url().scheme());
            if attempt.previous().len() > 5 {
                attempt.error("more than 5 redirects")
            } else if !same_scheme {
                let msg = format!(
                    "redirect to another scheme ({}) refused",
                    attempt.url().scheme()
                );
                attempt.error(msg)
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout.min(Duration::from_secs(10)))
            .redirect(policy)
            .user_agent(concat!("pff/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up HTTP: {e}"))?;
        Ok(Fetcher { client, limits })
    }

    /// The body of `url`, retrying transient failures with a growing pause.
    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut attempt = 0;
        loop {
            match self.once(url).await {
                Ok(body) => return Ok(body),
                Err((msg, transient)) => {
                    if !transient || attempt >= self.limits.retries {
                        let tries = if attempt > 0 {
                            format!(" (after {} attempts)", attempt + 1)
                        } else {
                            String::new()
                        };
                        return Err(format!("cannot fetch {url}: {msg}{tries}"));
                    }
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
                }
            }
        }
    }

    /// One attempt; the error says whether trying again could help.
    async fn once(&self, url: &str) -> Result<Vec<u8>, (String, bool)> {
        let mut resp = self.client.get(url).send().await.map_err(|e| {
            let transient = e.is_timeout() || e.is_connect() || e.is_request() && !e.is_redirect();
            (error_chain(&e), transient && !e.is_redirect())
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err((format!("HTTP {status}"), status.is_server_error()));
        }
        let max = self.limits.max_bytes;
        if let Some(len) = resp.content_length()
            && len > max
        {
            return Err((
                format!("body of {len} bytes exceeds the {max}-byte limit"),
                false,
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| (error_chain(&e), e.is_timeout()))?
        {
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err((format!("body exceeds the {max}-byte limit"), false));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
