//! A minimal HTTP/1.1 server on `127.0.0.1:0` that the fake CRMs are built on.
//!
//! It owns sockets, request parsing, the request log and fault injection; it
//! knows nothing about any vendor. A fake supplies a state value and a handler
//! function `fn(&mut S, &Request) -> Response`; every request runs the handler
//! under one mutex, so the fake's state is consistent across connections.
//! Hand-written on std instead of a server crate because the faults we need
//! (a write that commits and then drops the connection, a truncated body)
//! require control of the raw socket.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path without the query string, percent-decoded.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names are lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// Returns the first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Returns the first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parses the body as JSON.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("invalid JSON body: {e}"))
    }

    /// The path split on `/`, without empty segments.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }
}

/// A response the handler returns.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, body: &Value) -> Response {
        Response {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json;charset=utf-8".into(),
            )],
            body: serde_json::to_vec(body).expect("serialisable"),
        }
    }

    pub fn text(status: u16, content_type: &str, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What to do to a matching request instead of (or around) serving it.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this response; the handler is not called, nothing is written.
    Respond(Response),
    /// Close the connection without answering; nothing is written.
    Drop,
    /// Run the handler (so a write commits), then close without answering.
    CommitThenDrop,
    /// Sleep this long, then serve normally.
    Delay(Duration),
    /// Wait until the test opens the gate, then serve normally.
    Hold(Gate),
    /// Serve normally but send only half of the body, then close.
    Truncate,
}

/// Where `Fault::Hold` keeps a request: the test learns that a request
/// arrived (`wait_until_held`) and lets it go on (`open`), so it can act
/// while a run is provably in the middle of that request, without timing.
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<(Mutex<GateState>, std::sync::Condvar)>);

#[derive(Debug, Default)]
struct GateState {
    held: bool,
    open: bool,
}

impl Gate {
    /// Returns once a request waits at the gate (panics after 20 s: the
    /// request never came).
    pub fn wait_until_held(&self) {
        let (state, changed) = &*self.0;
        let (state, timeout) = changed
            .wait_timeout_while(state.lock().unwrap(), Duration::from_secs(20), |s| !s.held)
            .unwrap();
        assert!(
            state.held && !timeout.timed_out(),
            "no request reached the gate"
        );
    }

    /// Lets the held request (and any later one) through.
    pub fn open(&self) {
        let (state, changed) = &*self.0;
        state.lock().unwrap().open = true;
        changed.notify_all();
    }

    fn hold(&self) {
        let (state, changed) = &*self.0;
        let mut state = state.lock().unwrap();
        state.held = true;
        changed.notify_all();
        drop(changed.wait_while(state, |s| !s.open).unwrap());
    }
}

/// A queued fault: applies to the next `remaining` requests whose
/// `"METHOD /path"` contains `matching`.
#[derive(Debug, Clone)]
struct PlannedFault {
    matching: String,
    remaining: usize,
    fault: Fault,
}

/// One logged request.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub status: u16,
    /// When the fake answered it.
    pub at: Instant,
}

/// Runs a handler over a shared state on a loopback port.
pub struct Server<S: Send + 'static> {
    addr: SocketAddr,
    state: Arc<Mutex<S>>,
    log: Arc<Mutex<Vec<LoggedRequest>>>,
    faults: Arc<Mutex<VecDeque<PlannedFault>>>,
    stopping: Arc<AtomicBool>,
}

type HandlerFn<S> = fn(&mut S, &Request) -> Response;

impl<S: Send + 'static> Server<S> {
    /// Binds `127.0.0.1:0` and serves each connection on its own thread.
    pub fn start(state: S, handler: HandlerFn<S>) -> Server<S> {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let server = Server {
            addr,
            state: Arc::new(Mutex::new(state)),
            log: Arc::new(Mutex::new(Vec::new())),
            faults: Arc::new(Mutex::new(VecDeque::new())),
            stopping: Arc::new(AtomicBool::new(false)),
        };
        let shared = server.shared();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                thread::spawn(move || serve_connection(stream, shared, handler));
            }
        });
        server
    }

    fn shared(&self) -> Shared<S> {
        Shared {
            state: self.state.clone(),
            log: self.log.clone(),
            faults: self.faults.clone(),
            stopping: self.stopping.clone(),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Locks the fake's state for inspection or seeding.
    pub fn state(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `fault` to the next `count` requests whose `"METHOD /path"`
    /// contains `matching` (use `""` for any request).
    pub fn inject(&self, matching: &str, count: usize, fault: Fault) {
        self.faults.lock().unwrap().push_back(PlannedFault {
            matching: matching.to_string(),
            remaining: count,
            fault,
        });
    }

    /// Removes every fault not yet used.
    pub fn clear_faults(&self) {
        self.faults.lock().unwrap().clear();
    }

    /// Every request served so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log.lock().unwrap().clone()
    }

    /// Forgets the request log.
    pub fn reset_requests(&self) {
        self.log.lock().unwrap().clear();
    }

    /// Requests so far, counted by `"METHOD /path"` with numeric path
    /// segments replaced by `{id}`.
    pub fn counts_by_endpoint(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.log.lock().unwrap().iter() {
            *counts.entry(endpoint_key(&r.method, &r.path)).or_insert(0) += 1;
        }
        counts
    }

    /// The most requests answered inside any rolling `span`: what a rate
    /// limit over that span saw at its busiest.
    pub fn busiest_window(&self, span: Duration) -> usize {
        let times: Vec<Instant> = self.log.lock().unwrap().iter().map(|r| r.at).collect();
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| t.duration_since(times[i]) < span)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// How many requests were made in all.
    pub fn request_count(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// How many requests used a method other than GET.
    pub fn write_request_count(&self) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| {
                r.method != "GET"
                    && !r.path.ends_with("/batch/read")
                    && !r.path.ends_with("/search")
            })
            .count()
    }
}

impl<S: Send + 'static> Drop for Server<S> {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect(self.addr);
    }
}

/// `"POST /crm/objects/2026-09/contacts/{id}"`
pub fn endpoint_key(method: &str, path: &str) -> String {
    let normalised: Vec<String> = path
        .split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
                "{id}".to_string()
            } else {
                seg.to_string()
            }
        })
        .collect();
    format!("{method} {}", normalised.join("/"))
}

struct Shared<S> {
    state: Arc<Mutex<S>>,
    log: Arc<Mutex<Vec<LoggedRequest>>>,
    faults: Arc<Mutex<VecDeque<PlannedFault>>>,
    stopping: Arc<AtomicBool>,
}

impl<S> Clone for Shared<S> {
    fn clone(&self) -> Self {
        Shared {
            state: self.state.clone(),
            log: self.log.clone(),
            faults: self.faults.clone(),
            stopping: self.stopping.clone(),
        }
    }
}

impl<S> Shared<S> {
    fn take_fault(&self, method: &str, path: &str) -> Option<Fault> {
        let key = format!("{method} {path}");
        let mut faults = self.faults.lock().unwrap();
        let index = faults.iter().position(|f| key.contains(&f.matching))?;
        let planned = &mut faults[index];
        let fault = planned.fault.clone();
        planned.remaining -= 1;
        if planned.remaining == 0 {
            faults.remove(index);
        }
        Some(fault)
    }
}

fn serve_connection<S>(stream: TcpStream, shared: Shared<S>, handler: HandlerFn<S>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    // Head and body go out in separate writes: without this, Nagle's
    // algorithm meets the client's delayed ACK and adds ~40 ms a request.
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut writer = stream;
    loop {
        let request = match read_request(&mut reader) {
            Some(r) => r,
            None => return,
        };
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let fault = shared.take_fault(&request.method, &request.path);
        let response = match &fault {
            Some(Fault::Respond(response)) => response.clone(),
            Some(Fault::Drop) => {
                log_request(&shared, &request, 0);
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Some(Fault::Delay(d)) => {
                thread::sleep(*d);
                run_handler(&shared, handler, &request)
            }
            Some(Fault::Hold(gate)) => {
                gate.hold();
                run_handler(&shared, handler, &request)
            }
            _ => run_handler(&shared, handler, &request),
        };
        log_request(&shared, &request, response.status);
        match fault {
            Some(Fault::CommitThenDrop) => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Some(Fault::Truncate) => {
                let half = response.body.len() / 2;
                let _ = write_response(&mut writer, &response, Some(half));
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            _ => {}
        }
        if write_response(&mut writer, &response, None).is_err() {
            return;
        }
    }
}

fn run_handler<S>(shared: &Shared<S>, handler: HandlerFn<S>, request: &Request) -> Response {
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    handler(&mut state, request)
}

fn log_request<S>(shared: &Shared<S>, request: &Request, status: u16) {
    shared.log.lock().unwrap().push(LoggedRequest {
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query.clone(),
        status,
        at: Instant::now(),
    });
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((&target, ""));
    let query = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    Some(Request {
        method,
        path: percent_decode(raw_path),
        query,
        headers,
        body,
    })
}

/// Decodes `%XX` escapes and `+` (as a space, the form encoding reqwest uses
/// in query strings).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn write_response(
    writer: &mut TcpStream,
    response: &Response,
    body_limit: Option<usize>,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (k, v) in &response.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    head.push_str("Connection: keep-alive\r\n\r\n");
    writer.write_all(head.as_bytes())?;
    let body = match body_limit {
        Some(n) => &response.body[..n],
        None => &response.body[..],
    };
    writer.write_all(body)?;
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        207 => "Multi-Status",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
