//! Reading task sources: files and `http(s)` URLs, both under a size limit; for URLs
//! timeouts, retries and a redirect policy that never leaves the origin unless the manifest
//! allows the host, and never goes from a public origin to a loopback, link-local or private
//! address.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// How task sources are read.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Largest body or file accepted.
    pub max_bytes: u64,
    /// Further attempts after a timeout, connection error or 5xx answer.
    pub retries: u32,
    /// Hosts a redirect may lead to besides the original one (`fetch_redirect_hosts`).
    pub redirect_hosts: Vec<String>,
    /// Headers sent with every request, expanded (may hold secrets: never logged).
    pub headers: Vec<(String, String)>,
    /// Requests started per second, at most.
    pub rate_limit: Option<f64>,
    /// PEM certificates trusted besides the built-in roots (a private CA).
    pub ca_bundle: Vec<u8>,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(crate::defaults::FETCH_TIMEOUT_SECS),
            max_bytes: crate::defaults::FETCH_MAX_BYTES,
            retries: crate::defaults::FETCH_RETRIES,
            redirect_hosts: Vec::new(),
            headers: Vec::new(),
            rate_limit: None,
            ca_bundle: Vec::new(),
        }
    }
}

/// Why a source could not be read, and whether trying again later could help (a timeout, a
/// 5xx answer, too many open files): such failures are retried by `--resume`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub message: String,
    pub retryable: bool,
}

/// Reads a local source, refusing one larger than `max_bytes` (checked on its size and while
/// reading: a device or a growing file has no trustworthy size).
pub async fn read_file(p: &Path, max_bytes: u64) -> Result<Vec<u8>, SourceError> {
    let fail = |e: std::io::Error| SourceError {
        message: format!("cannot read {}: {e}", p.display()),
        retryable: transient_io(&e),
    };
    let too_big = || SourceError {
        message: format!(
            "{} is larger than the {max_bytes}-byte limit for one source (fetch_max_bytes)",
            p.display()
        ),
        retryable: false,
    };
    let f = tokio::fs::File::open(p).await.map_err(fail)?;
    let len = f.metadata().await.map_err(fail)?.len();
    if len > max_bytes {
        return Err(too_big());
    }
    let mut body = Vec::with_capacity(len as usize);
    f.take(max_bytes + 1)
        .read_to_end(&mut body)
        .await
        .map_err(fail)?;
    if body.len() as u64 > max_bytes {
        return Err(too_big());
    }
    Ok(body)
}

/// I/O failures that may pass: too many open files, out of memory, interrupted, timed out,
/// a stale network file handle.
fn transient_io(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EMFILE
                | libc::ENFILE
                | libc::ENOMEM
                | libc::EAGAIN
                | libc::EINTR
                | libc::ETIMEDOUT
                | libc::ESTALE
                | libc::EBUSY
        )
    )
}

/// An HTTP client with timeouts, a size limit, retries and the redirect policy.
pub struct Fetcher {
    client: reqwest::Client,
    limits: FetchLimits,
    /// The manifest's `headers:`, sent to the source's own origin only.
    headers: reqwest::header::HeaderMap,
    /// The header values (and a scheme's credentials) never written anywhere.
    secrets: Vec<String>,
    /// When the next request may start (`rate_limit`).
    next_slot: tokio::sync::Mutex<tokio::time::Instant>,
}

/// The longest `Retry-After` waited for within a run; a server asking for more fails the task
/// as retryable (`--resume` asks again later).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Redirects followed, at most.
const MAX_REDIRECTS: usize = 5;

/// What an answer's `Retry-After` asks (seconds; an HTTP date is not followed).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// Whether two URLs share an origin (scheme, host, port).
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// One failed attempt: why, whether trying again could help, and after how long the server
/// asked to be asked again.
type Attempt = (String, bool, Option<Duration>);

/// Whether a redirect from `from` to `to` may be followed; the reason when not.
pub fn redirect_refusal(
    from: &reqwest::Url,
    to: &reqwest::Url,
    allowed: &[String],
) -> Option<String> {
    if from.scheme() != to.scheme() {
        return Some(format!(
            "redirect to another scheme ({}) refused",
            to.scheme()
        ));
    }
    let host = to.host_str().unwrap_or("");
    if is_internal(to) && !is_internal(from) {
        return Some(format!(
            "redirect from a public address to {host} (loopback, link-local or private) refused"
        ));
    }
    let same_origin = from.host_str() == to.host_str()
        && from.port_or_known_default() == to.port_or_known_default();
    if !same_origin && !allowed.iter().any(|a| a.eq_ignore_ascii_case(host)) {
        return Some(format!(
            "redirect to another host ({host}:{}) refused; list the host in the manifest's \
             fetch_redirect_hosts to allow it",
            to.port_or_known_default().unwrap_or(0)
        ));
    }
    None
}

/// A loopback, link-local, private or unspecified address (or `localhost`).
fn is_internal(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        Ok(ip) => ip,
        Err(_) => {
            let d = host.trim_end_matches('.').to_ascii_lowercase();
            return d == "localhost" || d.ends_with(".localhost");
        }
    };
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || first & 0xfe00 == 0xfc00 // unique local
                || first & 0xffc0 == 0xfe80 // link-local
        }
    }
}

impl Fetcher {
    pub fn new(limits: FetchLimits) -> Result<Fetcher, reqwest::Error> {
        let mut headers = reqwest::header::HeaderMap::new();
        // Checked when the settings were resolved (`check_header`).
        for (k, v) in &limits.headers {
            if let (Ok(name), Ok(mut value)) = (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) {
                value.set_sensitive(true);
                headers.insert(name, value);
            }
        }
        let secrets = secrets_of(&limits.headers);
        let mut builder = reqwest::Client::builder();
        if !limits.ca_bundle.is_empty() {
            for cert in reqwest::Certificate::from_pem_bundle(&limits.ca_bundle)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        // Bodies are taken as they are: no compression asked for (a compressed answer is
        // refused by name rather than read as bad text).
        let mut plain = reqwest::header::HeaderMap::new();
        plain.insert(
            reqwest::header::ACCEPT_ENCODING,
            reqwest::header::HeaderValue::from_static("identity"),
        );
        // Redirects are followed by `send`, which decides per hop what may be sent; no
        // `Referer` ever carries the original URL elsewhere.
        let client = builder
            .default_headers(plain)
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .user_agent(concat!("pff/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Fetcher {
            client,
            limits,
            headers,
            secrets,
            next_slot: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        })
    }

    pub fn limits(&self) -> &FetchLimits {
        &self.limits
    }

    /// The body of `url`, retrying transient failures with a growing pause; no retry once
    /// `stop` is set.
    pub async fn fetch(&self, url: &str, stop: &AtomicBool) -> Result<Vec<u8>, SourceError> {
        let mut attempt = 0;
        loop {
            self.wait_for_slot().await;
            match self.once(url).await {
                Ok(body) => return Ok(body),
                Err((msg, transient, asked)) => {
                    let msg = self.redact(&msg);
                    if let Some(wait) = asked.filter(|a| *a > MAX_RETRY_AFTER) {
                        return Err(SourceError {
                            message: format!(
                                "cannot fetch {url}: {msg}; the server asks to be asked again \
                                 in {} s, more than the {} s a run waits: `--resume` tries again",
                                wait.as_secs(),
                                MAX_RETRY_AFTER.as_secs()
                            ),
                            retryable: true,
                        });
                    }
                    let stopping = stop.load(Ordering::SeqCst);
                    if !transient || attempt >= self.limits.retries || stopping {
                        let tries = if attempt > 0 {
                            format!(" (after {} attempts)", attempt + 1)
                        } else {
                            String::new()
                        };
                        return Err(SourceError {
                            message: format!("cannot fetch {url}: {msg}{tries}"),
                            retryable: transient,
                        });
                    }
                    attempt += 1;
                    let backoff = Duration::from_millis(100 << attempt.min(6));
                    tokio::time::sleep(asked.unwrap_or(backoff)).await;
                }
            }
        }
    }

    /// Waits for the next request slot under `rate_limit`.
    async fn wait_for_slot(&self) {
        let Some(rate) = self.limits.rate_limit else {
            return;
        };
        // The manifest refuses rates below one an hour; a gap that still does not fit is
        // taken as an hour rather than a panic.
        let gap = Duration::try_from_secs_f64(1.0 / rate).unwrap_or(Duration::from_secs(3600));
        let start = {
            let mut next = self.next_slot.lock().await;
            let start = (*next).max(tokio::time::Instant::now());
            *next = start + gap;
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// `text` with every secret the manifest's headers carry replaced by `[redacted]`: a
    /// server that echoes the request never puts a token into an output.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }

    /// Sends a GET to `url`, following up to [`MAX_REDIRECTS`] redirects under the policy
    /// ([`redirect_refusal`]); the manifest's headers go to the source's own origin only.
    async fn send(&self, url: &str) -> Result<reqwest::Response, Attempt> {
        let first =
            reqwest::Url::parse(url).map_err(|e| (format!("not a valid URL: {e}"), false, None))?;
        let mut current = first.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.client.get(current.clone());
            if same_origin(&first, &current) {
                req = req.headers(self.headers.clone());
            }
            let resp = req.send().await.map_err(|e| {
                let transient = e.is_timeout() || e.is_connect() || e.is_request();
                (error_chain(&e), transient, None)
            })?;
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok());
            let (true, Some(location)) = (resp.status().is_redirection(), location) else {
                return Ok(resp);
            };
            let to = current
                .join(location)
                .map_err(|e| (format!("redirect to a bad location: {e}"), false, None))?;
            if let Some(why) = redirect_refusal(&first, &to, &self.limits.redirect_hosts) {
                return Err((why, false, None));
            }
            current = to;
        }
        Err((format!("more than {MAX_REDIRECTS} redirects"), false, None))
    }

    /// One attempt; the error says whether trying again could help, and after how long the
    /// server asked to be asked again (`Retry-After` on 429 and 503).
    async fn once(&self, url: &str) -> Result<Vec<u8>, Attempt> {
        let mut resp = self.send(url).await?;
        let status = resp.status();
        if !status.is_success() {
            let transient = status.is_server_error() || status.as_u16() == 429;
            let asked = retry_after(&resp);
            // What the server said, briefly: the first bytes of its answer.
            let mut excerpt = Vec::new();
            while excerpt.len() < 200 {
                match resp.chunk().await {
                    Ok(Some(c)) => excerpt.extend_from_slice(&c),
                    _ => break,
                }
            }
            excerpt.truncate(200);
            let said: String = String::from_utf8_lossy(&excerpt)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let said = said.trim();
            let msg = if said.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {said}")
            };
            return Err((msg, transient, asked));
        }
        if let Some(enc) = resp
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .and_then(|e| e.to_str().ok())
            .filter(|e| !e.eq_ignore_ascii_case("identity"))
        {
            return Err((
                format!(
                    "the server sent a `{enc}`-encoded body although pff asks for none \
                     (Accept-Encoding: identity); configure it to send plain JSON"
                ),
                false,
                None,
            ));
        }
        let max = self.limits.max_bytes;
        if let Some(len) = resp.content_length()
            && len > max
        {
            return Err((
                format!("body of {len} bytes exceeds the {max}-byte limit"),
                false,
                None,
            ));
        }
        let mut body = Vec::new();
        // A body cut short (the connection closed before Content-Length) may pass: retried.
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            (
                error_chain(&e),
                e.is_timeout() || e.is_body() || e.is_decode(),
                None,
            )
        })? {
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err((format!("body exceeds the {max}-byte limit"), false, None));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The values to redact: each header's value, and the credentials after a scheme
/// (`Bearer abc` also redacts `abc`); values under 4 characters are too common to redact.
fn secrets_of(headers: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, v) in headers {
        let v = v.trim();
        out.push(v.to_string());
        if let Some((_, cred)) = v.split_once(' ') {
            out.push(cred.trim().to_string());
        }
    }
    out.retain(|s| s.chars().count() >= 4);
    // Longest first, so that a value is replaced before a part of it.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// `text` with each of `secrets` replaced by `[redacted]`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "[redacted]");
        }
    }
    out
}

/// Why a header cannot be sent (its value is never shown: it may be a secret).
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("header name `{0}` is not a valid HTTP header name")]
    Name(String),
    #[error("header `{0}`: its value holds characters HTTP does not allow")]
    Value(String),
}

/// Checks that a header can be sent.
pub fn check_header(name: &str, value: &str) -> Result<(), HeaderError> {
    reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| HeaderError::Name(name.to_string()))?;
    reqwest::header::HeaderValue::from_str(value)
        .map_err(|_| HeaderError::Value(name.to_string()))?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    #[test]
    fn redirects_stay_at_their_origin_unless_allowed() {
        let from = url("https://api.example.com/lines/1");
        assert_eq!(
            redirect_refusal(&from, &url("https://api.example.com/v2/lines/1"), &[]),
            None
        );
        let other = url("https://cdn.example.net/x");
        assert!(
            redirect_refusal(&from, &other, &[]).is_some_and(|w| w.contains("cdn.example.net"))
        );
        assert_eq!(
            redirect_refusal(&from, &other, &["cdn.example.net".into()]),
            None
        );
        assert!(redirect_refusal(&from, &url("https://api.example.com:8443/x"), &[]).is_some());
        assert!(redirect_refusal(&from, &url("http://api.example.com/x"), &[]).is_some());
    }

    #[test]
    fn public_origins_never_reach_internal_addresses() {
        let from = url("https://api.example.com/x");
        let allowed: Vec<String> = ["169.254.169.254", "10.0.0.1", "localhost", "::1", "fe80::1"]
            .map(String::from)
            .into();
        for to in [
            "http://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/x",
            "https://localhost/x",
            "https://[::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://192.168.1.1/x",
        ] {
            assert!(
                redirect_refusal(&from, &url(to), &allowed).is_some(),
                "{to} was allowed"
            );
        }
        // An internal origin may redirect within itself (a test server, an intranet API).
        let local = url("http://127.0.0.1:8080/x");
        assert_eq!(
            redirect_refusal(&local, &url("http://127.0.0.1:8080/y"), &[]),
            None
        );
    }
}
