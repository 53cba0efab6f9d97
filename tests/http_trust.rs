//! What crosses the network: manifest headers stay with their origin, no `Referer`, secrets
//! never reach an output, dot-segment keys are refused, transient failures stay retryable.

mod common;

use std::fs;
use std::sync::{Arc, Mutex};

use common::{http_server_with_request, pff_run, read, root, stderr_of};

fn manifest_text(template: &str, tasks: &[&str], extra: &str) -> String {
    let mut m = format!(
        "execution_id: h\nrules: {}\nsource_template: {template}\n{extra}tasks:\n",
        root().join("data/rules.txt").display()
    );
    for t in tasks {
        m.push_str(&format!("- msisdn: '{t}'\n"));
    }
    m
}

/// A redirect to another origin (allowed by `fetch_redirect_hosts`) gets neither the manifest's
/// headers nor a `Referer`; the source's own origin gets the headers.
#[test]
fn headers_stay_with_their_origin() {
    let rec = read(&root().join("data/records/CUST1001.json"));
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let other = http_server_with_request(30, move |_, _, req| {
        log.lock().unwrap().push(req.to_lowercase());
        Some(("200 OK".into(), String::new(), rec.clone()))
    });
    let first_seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log1 = first_seen.clone();
    let first = http_server_with_request(30, move |path, _, req| {
        log1.lock().unwrap().push(req.to_lowercase());
        Some((
            "302 Found".into(),
            format!("Location: http://{other}{path}\r\n"),
            String::new(),
        ))
    });
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    let extra = "headers:\n  X-Api-Key: k3y-value-123\nfetch_redirect_hosts: [127.0.0.1]\n";
    fs::write(
        &m,
        manifest_text(&format!("http://{first}/r/{{msisdn}}"), &["1"], extra),
    )
    .unwrap();
    pff_run(&m, dir.path().join("out"), &["--fail-on", "never"])
        .assert()
        .code(0);
    let first_req = first_seen.lock().unwrap().join("\n");
    assert!(
        first_req.contains("x-api-key: k3y-value-123"),
        "{first_req}"
    );
    let reqs = seen.lock().unwrap().join("\n");
    assert!(!reqs.is_empty(), "the redirect was followed");
    assert!(!reqs.contains("x-api-key"), "{reqs}");
    assert!(!reqs.contains("referer"), "{reqs}");
}

/// A 401 whose body echoes the request: the token and the key are redacted from results.csv,
/// the task files and events.jsonl.
#[test]
fn secrets_echoed_by_a_server_are_redacted() {
    let server = http_server_with_request(30, move |_, _, req| {
        Some(("401 Unauthorized".into(), String::new(), req.to_string()))
    });
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    let extra = "headers:\n  Authorization: Bearer t0ken-s3cret\n  X-Api-Key: api-k3y-s3cret\n";
    fs::write(
        &m,
        manifest_text(&format!("http://{server}/r/{{msisdn}}"), &["1"], extra),
    )
    .unwrap();
    let out = dir.path().join("out");
    pff_run(&m, &out, &[]).assert().code(3);
    let mut all = read(&out.join("results.csv"));
    all.push_str(&read(&out.join("events.jsonl")));
    for e in fs::read_dir(out.join("tasks")).unwrap() {
        all.push_str(&read(&e.unwrap().path()));
    }
    assert!(all.contains("HTTP 401"), "{all}");
    assert!(!all.contains("t0ken-s3cret"), "{all}");
    assert!(!all.contains("api-k3y-s3cret"), "{all}");
    assert!(all.contains("[redacted]"), "{all}");
}

/// Keys `.` and `..` in a template would name other paths: refused when the manifest loads.
#[test]
fn dot_segment_keys_are_refused() {
    for key in [".", ".."] {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("m.yaml");
        fs::write(
            &m,
            manifest_text("http://127.0.0.1:9/ok/lines/{msisdn}/record", &[key], ""),
        )
        .unwrap();
        let err = stderr_of(&mut pff_run(&m, dir.path().join("out"), &[]), 2);
        assert!(err.contains("dot segment"), "{key}: {err}");
    }
}

/// A body cut short is retried (and stays retryable); a `Retry-After` beyond what a run waits
/// fails the task as retryable at once.
#[test]
fn transient_failures_stay_retryable() {
    let server = http_server_with_request(30, move |_, _, _| {
        Some((
            "503 Service Unavailable".into(),
            "Retry-After: 7200\r\n".into(),
            "later".into(),
        ))
    });
    // The helper always sends a true Content-Length: a server of its own for the cut body.
    let cut = {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let rec = read(&root().join("data/records/CUST1001.json"));
        std::thread::spawn(move || {
            for (n, conn) in l.incoming().take(4).enumerate() {
                let Ok(mut c) = conn else { continue };
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                if n == 0 {
                    let _ = write!(
                        c,
                        "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n{{\"id\":"
                    );
                } else {
                    let _ = write!(
                        c,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{rec}",
                        rec.len()
                    );
                }
            }
        });
        addr
    };
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        manifest_text(
            &format!("http://{cut}/r/{{msisdn}}"),
            &["cut"],
            "fetch_retries: 1\n",
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let code = pff_run(&m, &out, &["--fail-on", "never"])
        .output()
        .unwrap()
        .status;
    let csv = read(&out.join("results.csv"));
    assert!(!csv.contains("FAILED"), "the cut body was retried: {csv}");
    assert_eq!(code.code(), Some(0));

    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        manifest_text(
            &format!("http://{server}/r/{{msisdn}}"),
            &["later"],
            "fetch_retries: 3\n",
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let started = std::time::Instant::now();
    pff_run(&m, &out, &[]).assert().code(3);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let events = read(&out.join("events.jsonl"));
    assert!(events.contains("\"retryable\":true"), "{events}");
    assert!(events.contains("--resume"), "{events}");
}
