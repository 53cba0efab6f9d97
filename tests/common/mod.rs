//! Helpers shared by the integration tests: the binary, the sample data, small manifests.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The repository's root (the sample data and manifests are there).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The pff binary, started in the repository's root (so paths in reports are stable), without
/// colour or an orchestrator's shard index.
pub fn pff(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("pff").expect("binary built");
    cmd.current_dir(root())
        .env("NO_COLOR", "1")
        // Compiled rule sets go under the build's own temporary folder, never the home.
        .env(
            "PFF_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("pff-cache"),
        )
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .args(args);
    cmd
}

/// `pff validate RECORD --rules RULES --format FORMAT --fail-on never EXTRA...`: its stdout
/// (exit 0 required).
pub fn validate_stdout(record: &str, rules: &str, format: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "validate",
        record,
        "--rules",
        rules,
        "--format",
        format,
        "--fail-on",
        "never",
    ];
    args.extend(extra);
    let out = pff(&args).assert().code(0).get_output().stdout.clone();
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes `content` to `name` in `dir`; its path as a string.
pub fn write(dir: &tempfile::TempDir, name: &str, content: &[u8]) -> String {
    let p = dir.path().join(name);
    fs::write(&p, content).unwrap();
    p.display().to_string()
}

/// A file's text; the test fails naming the file when it cannot be read.
pub fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A manifest `m.yaml` in `dir` whose tasks are `records` (file name, content) written beside
/// it, checked against the sample rules; `extra` is YAML put before `tasks:`.
pub fn manifest(dir: &Path, records: &[(&str, &str)], extra: &str) -> PathBuf {
    let rules = root().join("data/rules.txt");
    let mut m = format!(
        "execution_id: t\nrules: {}\n{extra}tasks:\n",
        rules.display()
    );
    for (name, content) in records {
        fs::write(dir.join(name), content).unwrap();
        m.push_str(&format!("- msisdn: {name}\n"));
    }
    let p = dir.join("m.yaml");
    fs::write(&p, m).unwrap();
    p
}

/// The sample records (`data/records/*.json`), by name.
pub fn sample_records() -> Vec<(String, String)> {
    let mut v: Vec<_> = fs::read_dir(root().join("data/records"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                read(&p),
            )
        })
        .collect();
    v.sort();
    v
}

/// (name, content) pairs as borrowed strings, as [`manifest`] takes them.
pub fn named(records: &[(String, String)]) -> Vec<(&str, &str)> {
    records
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_str()))
        .collect()
}

/// `pff run M -q -o OUT EXTRA...`.
pub fn pff_run(m: impl AsRef<Path>, out: impl AsRef<Path>, extra: &[&str]) -> Command {
    let (m, out) = (m.as_ref(), out.as_ref());
    let mut args = vec![
        "run",
        m.to_str().unwrap(),
        "-q",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    pff(&args)
}

/// What a failed command printed on standard error, checking its exit code.
pub fn stderr_of(cmd: &mut Command, code: i32) -> String {
    let a = cmd.assert().code(code);
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// Every file of an output folder but the event log (timestamps), the execution record and the
/// lock (who holds it), by relative path.
pub fn outputs(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .is_some_and(|n| n != "events.jsonl" && n != "execution.json" && n != ".pff.lock")
            {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                files.push((rel, read(&p)));
            }
        }
    }
    files.sort();
    files
}

/// A small HTTP/1.1 server on 127.0.0.1: `answer(path, request number)` gives the status line,
/// extra header lines and the body; `None` holds the connection open without answering (a
/// slow server). It stops by itself after `secs` seconds.
pub fn http_server(
    secs: u64,
    answer: impl Fn(&str, usize) -> Option<(String, String, String)> + Send + Sync + 'static,
) -> std::net::SocketAddr {
    http_server_with_request(secs, move |path, n, _| answer(path, n))
}

/// [`http_server`], `answer` also seeing the request's head (its headers).
pub fn http_server_with_request(
    secs: u64,
    answer: impl Fn(&str, usize, &str) -> Option<(String, String, String)> + Send + Sync + 'static,
) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let answer = Arc::new(answer);
    let count = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            let Ok((mut conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let (answer, count) = (answer.clone(), count.clone());
            std::thread::spawn(move || {
                conn.set_nonblocking(false).unwrap();
                let mut buf = [0u8; 4096];
                let n = conn.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let k = count.fetch_add(1, Ordering::SeqCst);
                match answer(&path, k, &req) {
                    Some((status, extra, body)) => {
                        let _ = write!(
                            conn,
                            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n{body}",
                            body.len()
                        );
                    }
                    None => std::thread::sleep(Duration::from_secs(secs)),
                }
            });
        }
    });
    addr
}
