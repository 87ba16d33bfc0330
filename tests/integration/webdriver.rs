//! A small W3C WebDriver client for the dashboard tests: it starts Debian's
//! `chromedriver` on a free loopback port and drives a headless Chromium
//! through the protocol's JSON over HTTP (no client library needed).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The key W3C WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("local address").port()
}

fn find(names: &[&str]) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate.to_string_lossy().into_owned());
            }
        }
        if Path::new(name).is_file() {
            return Some((*name).to_owned());
        }
    }
    None
}

impl Browser {
    /// Headless Chromium at 1366 × 900 (a laptop's screen).
    pub fn start() -> Browser {
        let driver_path = find(&["chromedriver", "/usr/lib/chromium/chromedriver"])
            .expect("chromedriver not found: the test command installs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)");
        let chromium = find(&["chromium", "chromium-browser", "google-chrome"]).expect("chromium not found (apt-get install chromium)");
        let port = free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            agent,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser
                .agent
                .get(&format!("{}/status", browser.base))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let session = browser.request(
            "POST",
            "/session",
            &json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             "--window-size=1366,900", "--no-first-run", "--disable-extensions"]
                }
            }}}),
        );
        browser.session = session["sessionId"].as_str().expect("a session id").to_owned();
        browser
    }

    fn request(&self, method: &str, path: &str, body: &Value) -> Value {
        let url = format!("{}{}", self.base, path);
        let mut response = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.to_string().as_bytes()),
        }
        .expect("WebDriver exchange");
        let text = response.body_mut().read_to_string().expect("WebDriver reply");
        let reply: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("WebDriver reply is not JSON: {text}"));
        assert!(reply["value"]["error"].is_null(), "WebDriver {method} {path} failed: {}", reply["value"]);
        reply["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{}", self.session, rest)
    }

    pub fn goto(&self, url: &str) {
        self.request("POST", &self.session_path("/url"), &json!({ "url": url }));
    }

    /// The first element matching a CSS selector (panics when there is none).
    pub fn element(&self, css: &str) -> String {
        let found = self.request("POST", &self.session_path("/element"), &json!({"using": "css selector", "value": css}));
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element reference for {css}: {found}"))
            .to_owned()
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.request("POST", &self.session_path(&format!("/element/{id}/value")), &json!({ "text": text }));
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.request("POST", &self.session_path(&format!("/element/{id}/click")), &json!({}));
    }

    /// Run `script` (a function body; `arguments` holds `args`) in the page.
    pub fn eval(&self, script: &str, args: &[Value]) -> Value {
        self.request("POST", &self.session_path("/execute/sync"), &json!({ "script": script, "args": args }))
    }

    /// Poll `script` until it returns true, at most `limit`; the time it took.
    pub fn wait_until(&self, limit: Duration, script: &str, args: &[Value]) -> Option<Duration> {
        let start = Instant::now();
        loop {
            if self.eval(script, args) == Value::Bool(true) {
                return Some(start.elapsed());
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Save a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        let encoded = self.request("GET", &self.session_path("/screenshot"), &Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 screenshot"))
            .expect("screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.agent.delete(&format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
