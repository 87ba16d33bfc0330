//! `dispatcher info|object|script ...`: the binary as a client of a running host.
//!
//! Each command connects over HTTP, creates a capability for the given account,
//! sends its requests through the same protocol any client uses, and destroys
//! the capability on the way out. Errors say what went wrong and what to do.

use std::io::Read;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::cli::{ClientArgs, ExtensionCommand, ObjectCommand, ScriptCommand};

/// Print a line; a closed pipe (`| head`) is not an error worth a panic.
fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// MD5 hex of a password, as CreateCapabilityRequest wants it.
fn md5_hex(text: &str) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(text.as_bytes()))
}

/// An authenticated session with a host.
pub struct Session {
    agent: ureq::Agent,
    url: String,
    pub scene: String,
    capability: Option<String>,
}

impl Session {
    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into()
    }

    /// Send one request; a Failure reply becomes an error carrying its `_Message`.
    pub fn call(&self, mut request: Value) -> anyhow::Result<Value> {
        if let Some(obj) = request.as_object_mut() {
            obj.entry("_scene").or_insert_with(|| json!(self.scene));
            if let Some(cap) = &self.capability {
                obj.entry("_capability").or_insert_with(|| json!(cap));
            }
        }
        let body = serde_json::to_vec(&request)?;
        self.post(&body, None)
    }

    /// `call` for a large request: upload progress on standard error.
    pub fn call_with_progress(&self, mut request: Value, label: &str) -> anyhow::Result<Value> {
        if let Some(obj) = request.as_object_mut() {
            obj.entry("_scene").or_insert_with(|| json!(self.scene));
            if let Some(cap) = &self.capability {
                obj.entry("_capability").or_insert_with(|| json!(cap));
            }
        }
        self.post(&serde_json::to_vec(&request)?, Some(label))
    }

    fn post(&self, body: &[u8], progress: Option<&str>) -> anyhow::Result<Value> {
        let reader = Progress {
            inner: body.to_vec(),
            sent: 0,
            total: body.len(),
            label: progress.map(str::to_owned),
            last_percent: u64::MAX,
        };
        let mut resp = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(ureq::SendBody::from_owned_reader(reader))
            .map_err(|e| anyhow!("cannot reach {}: {e}; is `dispatcher serve` running there?", self.url))?;
        let status = resp.status();
        let text = resp.body_mut().with_config().limit(64 * 1024 * 1024).read_to_string()?;
        if progress.is_some() {
            eprintln!();
        }
        if !status.is_success() {
            bail!("{} answered HTTP {status}: {}", self.url, text.trim());
        }
        let reply: Value = serde_json::from_str(&text).with_context(|| format!("the reply is not JSON: {text}"))?;
        if reply["_Success"].as_i64().unwrap_or(0) <= 0 {
            bail!("{}", reply["_Message"].as_str().unwrap_or("request failed"));
        }
        Ok(reply)
    }

    /// Connect, pick the region and authenticate.
    pub fn open(args: &ClientArgs, domains: &[&str]) -> anyhow::Result<Session> {
        let mut session = Session {
            agent: Self::agent(),
            url: args.url.clone(),
            scene: String::new(),
            capability: None,
        };
        let info = session.post(
            &serde_json::to_vec(&json!({"$type": "Dispatcher.Messages.InfoRequest", "_domain": "Dispatcher"}))?,
            None,
        )?;
        session.scene = match &args.region {
            Some(r) => r.clone(),
            None => info["SceneList"][0]
                .as_str()
                .ok_or_else(|| anyhow!("the host has no regions"))?
                .to_owned(),
        };
        let Some(user) = &args.user else {
            return Ok(session);
        };
        let (first, last) = user
            .split_once(' ')
            .ok_or_else(|| anyhow!("--user takes \"First Last\", got {user:?}"))?;
        let password = match &args.password {
            Some(p) => p.clone(),
            None => std::env::var("DISPATCHER_PASSWORD").map_err(|_| anyhow!("give --password or set DISPATCHER_PASSWORD"))?,
        };
        let reply = session.call(json!({
            "$type": "Dispatcher.Messages.CreateCapabilityRequest",
            "_domain": "Dispatcher",
            "FirstName": first, "LastName": last.trim(),
            "HashedPasswd": md5_hex(&password),
            "LifeSpan": 300,
            "DomainList": domains,
        }))?;
        session.capability = reply["Capability"].as_str().map(str::to_owned);
        Ok(session)
    }

    pub fn close(self) {
        if self.capability.is_some() {
            let _ = self.call(json!({"$type": "Dispatcher.Messages.DestroyCapabilityRequest", "_domain": "Dispatcher"}));
        }
    }
}

/// A request body reader that prints upload progress to standard error.
struct Progress {
    inner: Vec<u8>,
    sent: usize,
    total: usize,
    label: Option<String>,
    last_percent: u64,
}

impl Read for Progress {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (&self.inner[self.sent..]).read(buf)?;
        self.sent += n;
        if let Some(label) = &self.label {
            let percent = (self.sent as u64 * 100) / self.total.max(1) as u64;
            if percent != self.last_percent {
                self.last_percent = percent;
                eprint!("\r{label}: {percent:>3}% of {} KiB", self.total / 1024);
            }
        }
        Ok(n)
    }
}

pub fn info(args: &ClientArgs) -> anyhow::Result<()> {
    let session = Session::open(
        &ClientArgs {
            user: None,
            ..args.clone()
        },
        &[],
    )?;
    let info = session.call(json!({"$type": "Dispatcher.Messages.InfoRequest", "_domain": "Dispatcher"}))?;
    say(format!("synchronous binding:  {}", info["SynchEndPoint"].as_str().unwrap_or("")));
    say(format!("asynchronous binding: {}", info["AsyncEndPoint"].as_str().unwrap_or("")));
    for s in info["SceneList"].as_array().into_iter().flatten() {
        say(format!("scene: {}", s.as_str().unwrap_or("")));
    }
    for m in info["MessageList"].as_array().into_iter().flatten() {
        say(format!("message: {}", m.as_str().unwrap_or("")));
    }
    Ok(())
}

pub fn object(args: &ClientArgs, cmd: &ObjectCommand) -> anyhow::Result<()> {
    let session = Session::open(args, &["RemoteControl"])?;
    let result = match cmd {
        ObjectCommand::Find { pattern } => session
            .call(json!({
                "$type": "RemoteControl.Messages.FindObjectsRequest",
                "_domain": "RemoteControl",
                "Pattern": pattern,
            }))
            .map(|reply| {
                for id in reply["Objects"].as_array().into_iter().flatten() {
                    say(id.as_str().unwrap_or(""));
                }
            }),
        ObjectCommand::Create { name, position } => create_box(&session, name, position).map(say),
    };
    session.close();
    result
}

/// `X,Y,Z` as three finite numbers.
fn parse_position(text: &str) -> anyhow::Result<[f64; 3]> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let bad = || anyhow!("--position takes X,Y,Z (three numbers, e.g. 128,128,25), got {text:?}");
    if parts.len() != 3 {
        return Err(bad());
    }
    let mut out = [0.0; 3];
    for (slot, part) in out.iter_mut().zip(&parts) {
        *slot = part.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(bad)?;
    }
    Ok(out)
}

/// The object asset of a plain 1 m box, one prim (the box a viewer rezzes).
pub fn box_asset(name: &str) -> Vec<u8> {
    let zero = "<UUID>00000000-0000-0000-0000-000000000000</UUID>";
    let part_id = uuid::Uuid::new_v4();
    let name = name.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut xml = String::from("<SceneObjectGroup><RootPart><SceneObjectPart>");
    xml += &format!("<CreatorID>{zero}</CreatorID><UUID><UUID>{part_id}</UUID></UUID><Name>{name}</Name>");
    for tag in ["GroupPosition", "OffsetPosition", "Velocity", "Acceleration"] {
        xml += &format!("<{tag}><X>0</X><Y>0</Y><Z>0</Z></{tag}>");
    }
    xml += "<RotationOffset><X>0</X><Y>0</Y><Z>0</Z><W>1</W></RotationOffset><Description /><LinkNum>0</LinkNum>";
    xml += "<Shape><ProfileCurve>1</ProfileCurve><PathCurve>16</PathCurve><PCode>9</PCode>";
    xml += &format!("<SculptTexture>{zero}</SculptTexture><SculptEntry>false</SculptEntry></Shape>");
    xml += "<Scale><X>1</X><Y>1</Y><Z>1</Z></Scale>";
    for tag in ["GroupID", "OwnerID", "LastOwnerID"] {
        xml += &format!("<{tag}>{zero}</{tag}>");
    }
    xml += "</SceneObjectPart></RootPart><OtherParts /></SceneObjectGroup>";
    let mut bytes = xml.into_bytes();
    bytes.push(0);
    bytes
}

/// Store a box asset, rez it at `position`; the new object's id.
pub fn create_box(session: &Session, name: &str, position: &str) -> anyhow::Result<String> {
    if name.trim().is_empty() {
        bail!("the object needs a name, e.g. `dispatcher object create lamp`");
    }
    let position = parse_position(position)?;
    let asset = session.call(json!({
        "$type": "RemoteControl.Messages.AddAssetRequest",
        "_domain": "RemoteControl",
        "Asset": {
            "AssetID": uuid::Uuid::nil().to_string(),
            "SerializedAsset": base64::engine::general_purpose::STANDARD.encode(box_asset(name)),
            "Name": name, "Description": "", "ContentType": "application/vnd.ll.primitive", "CreatorID": "",
        },
    }))?;
    let created = session.call(json!({
        "$type": "RemoteControl.Messages.CreateObjectRequest",
        "_domain": "RemoteControl",
        "AssetID": asset["AssetID"],
        "Name": name,
        "Position": position,
    }))?;
    created["ObjectID"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the host's reply has no ObjectID: {created}"))
}

/// Send an UpdateScriptRequest with upload progress; the reply.
pub fn update_script(
    session: &Session,
    script: &str,
    bytes: &[u8],
    grants: Option<&[String]>,
    start_parameter: Option<&str>,
) -> anyhow::Result<Value> {
    let mut request = json!({
        "$type": "Scripting.Messages.UpdateScriptRequest",
        "_domain": "Scripting",
        "_scene": session.scene,
        "ScriptID": script,
        "Component": base64::engine::general_purpose::STANDARD.encode(bytes),
    });
    if let Some(obj) = request.as_object_mut() {
        if let Some(g) = grants {
            obj.insert("Grants".into(), json!(g));
        }
        if let Some(p) = start_parameter {
            obj.insert("StartParameter".into(), json!(p));
        }
        if let Some(cap) = &session.capability {
            obj.insert("_capability".into(), json!(cap));
        }
    }
    session.post(&serde_json::to_vec(&request)?, Some("uploading"))
}

fn status_line(s: &Value) -> String {
    format!(
        "{}  {:<8} {:<20} object {}  events {} dropped {}  restarts {}{}",
        s["ScriptID"].as_str().unwrap_or(""),
        s["State"].as_str().unwrap_or(""),
        s["Name"].as_str().unwrap_or(""),
        s["ObjectID"].as_str().unwrap_or(""),
        s["EventsHandled"],
        s["EventsDropped"],
        s["Restarts"],
        match s["FaultReason"].as_str() {
            Some(r) if !r.is_empty() => format!("  fault: {r}"),
            _ => String::new(),
        }
    )
}

pub fn script(args: &ClientArgs, cmd: &ScriptCommand) -> anyhow::Result<()> {
    let session = Session::open(args, &["RemoteControl", "Scripting"])?;
    let result = script_command(&session, cmd);
    session.close();
    result
}

fn script_command(session: &Session, cmd: &ScriptCommand) -> anyhow::Result<()> {
    match cmd {
        ScriptCommand::New { .. } | ScriptCommand::Build { .. } | ScriptCommand::Dev { .. } => {
            bail!("handled without a session")
        }
        ScriptCommand::Upload {
            file,
            object,
            grants,
            name,
            start_parameter,
            stopped,
        } => {
            let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = name
                .clone()
                .unwrap_or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
            let mut request = json!({
                "$type": "Scripting.Messages.UploadScriptRequest",
                "_domain": "Scripting",
                "_scene": session.scene,
                "ObjectID": object,
                "Name": name,
                "Component": base64::engine::general_purpose::STANDARD.encode(&bytes),
                "Grants": grants,
                "StartParameter": start_parameter,
                "Start": !stopped,
            });
            if let (Some(obj), Some(cap)) = (request.as_object_mut(), &session.capability) {
                obj.insert("_capability".into(), json!(cap));
            }
            let body = serde_json::to_vec(&request)?;
            let reply = session.post(&body, Some("uploading"))?;
            say(reply["ScriptID"].as_str().unwrap_or(""));
            eprintln!(
                "state {}, grants {}, sha-256 {}",
                reply["State"].as_str().unwrap_or(""),
                reply["Grants"],
                reply["Hash"].as_str().unwrap_or("")
            );
        }
        ScriptCommand::Update {
            script,
            file,
            grants,
            start_parameter,
        } => {
            let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let reply = update_script(session, script, &bytes, grants.as_deref(), start_parameter.as_deref())?;
            if reply["RolledBack"].as_bool().unwrap_or(false) {
                bail!("{}", reply["Message"].as_str().unwrap_or("the update was rolled back"));
            }
            say(reply["Hash"].as_str().unwrap_or(""));
            eprintln!(
                "state {}, grants {}{}",
                reply["State"].as_str().unwrap_or(""),
                reply["Grants"],
                match reply["Message"].as_str() {
                    Some(m) if !m.is_empty() => format!("; {m}"),
                    _ => String::new(),
                }
            );
        }
        ScriptCommand::List { object } => {
            let reply = session.call(json!({
                "$type": "Scripting.Messages.ListScriptsRequest",
                "_domain": "Scripting",
                "ObjectID": object.clone().unwrap_or_else(|| uuid::Uuid::nil().to_string()),
            }))?;
            for s in reply["Scripts"].as_array().into_iter().flatten() {
                say(status_line(s));
            }
        }
        ScriptCommand::Status { script } => {
            let reply = session.call(json!({
                "$type": "Scripting.Messages.GetScriptStatusRequest",
                "_domain": "Scripting",
                "ScriptID": script,
            }))?;
            let record = reply.get("Status").filter(|s| s.is_object()).unwrap_or(&reply);
            say(status_line(record));
        }
        ScriptCommand::Start { script } => simple(session, "StartScriptRequest", script)?,
        ScriptCommand::Stop { script } => simple(session, "StopScriptRequest", script)?,
        ScriptCommand::Reset { script } => simple(session, "ResetScriptRequest", script)?,
        ScriptCommand::Rm { script } => simple(session, "RemoveScriptRequest", script)?,
        ScriptCommand::Logs { script, follow } => {
            let mut since = 0i64;
            loop {
                let reply = session.call(json!({
                    "$type": "Scripting.Messages.GetScriptLogRequest",
                    "_domain": "Scripting",
                    "ScriptID": script,
                    "Since": since,
                }))?;
                for line in reply["Lines"].as_array().into_iter().flatten() {
                    let seq = line["Seq"].as_i64().or_else(|| line["Sequence"].as_i64()).unwrap_or(since);
                    since = since.max(seq + 1);
                    say(format!(
                        "{} {:<5} {}",
                        line["Time"].as_str().map(str::to_owned).unwrap_or_else(|| line["Time"].to_string()),
                        line["Level"].as_str().unwrap_or(""),
                        line["Text"].as_str().unwrap_or("")
                    ));
                }
                if !follow {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    Ok(())
}

fn simple(session: &Session, type_name: &str, script: &str) -> anyhow::Result<()> {
    session.call(json!({
        "$type": format!("Scripting.Messages.{type_name}"),
        "_domain": "Scripting",
        "ScriptID": script,
    }))?;
    eprintln!("ok");
    Ok(())
}

fn extension_line(s: &Value) -> String {
    format!(
        "{}  {:<8} {:<16} {} scope {:?}  handled {} failed {}  restarts {}  grants {}{}",
        s["ExtensionID"].as_str().unwrap_or(""),
        s["State"].as_str().unwrap_or(""),
        s["Domain"].as_str().unwrap_or(""),
        s["Version"].as_str().unwrap_or(""),
        s["Scope"].as_str().unwrap_or(""),
        s["RequestsHandled"],
        s["RequestsFailed"],
        s["Restarts"],
        s["Grants"],
        match s["FaultReason"].as_str() {
            Some(r) if !r.is_empty() => format!("  fault: {r}"),
            _ => String::new(),
        }
    )
}

/// `dispatcher extension …`: the Extensions domain over the same session
/// (credentials, capability, region) as `dispatcher script …`.
pub fn extension(args: &ClientArgs, cmd: &ExtensionCommand) -> anyhow::Result<()> {
    let session = Session::open(args, &["RemoteControl", "Extensions"])?;
    let result = extension_command(&session, cmd);
    session.close();
    result
}

fn extension_post(session: &Session, mut request: Value, label: &str) -> anyhow::Result<Value> {
    if let Some(obj) = request.as_object_mut() {
        obj.insert("_scene".into(), json!(session.scene));
        if let Some(cap) = &session.capability {
            obj.insert("_capability".into(), json!(cap));
        }
    }
    let body = serde_json::to_vec(&request)?;
    session.post(&body, Some(label))
}

fn extension_command(session: &Session, cmd: &ExtensionCommand) -> anyhow::Result<()> {
    let read = |file: &std::path::Path| std::fs::read(file).with_context(|| format!("cannot read {}", file.display()));
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match cmd {
        ExtensionCommand::Install {
            file,
            scope,
            grants,
            config,
            stopped,
        } => {
            let request = json!({
                "$type": "Extensions.Messages.InstallExtensionRequest",
                "_domain": "Extensions",
                "Component": b64(&read(file)?),
                "Scope": scope.clone().unwrap_or_default(),
                "Grants": grants,
                "Config": config,
                "Start": !stopped,
            });
            let reply = extension_post(session, request, "installing")?;
            say(reply["ExtensionID"].as_str().unwrap_or(""));
            eprintln!(
                "domain {} {}, state {}, grants {}, types {}",
                reply["Domain"].as_str().unwrap_or(""),
                reply["Version"].as_str().unwrap_or(""),
                reply["State"].as_str().unwrap_or(""),
                reply["Grants"],
                reply["MessageTypes"]
            );
        }
        ExtensionCommand::Update { extension, file, config } => {
            let mut request = json!({
                "$type": "Extensions.Messages.UpdateExtensionRequest",
                "_domain": "Extensions",
                "ExtensionID": extension,
                "Component": b64(&read(file)?),
            });
            if let (Some(obj), Some(config)) = (request.as_object_mut(), config) {
                obj.insert("Config".into(), json!(config));
            }
            let reply = extension_post(session, request, "updating")?;
            eprintln!("updated to {} {}", reply["Domain"].as_str().unwrap_or(""), reply["Version"].as_str().unwrap_or(""));
        }
        ExtensionCommand::List => {
            let reply = session.call(json!({ "$type": "Extensions.Messages.ListExtensionsRequest", "_domain": "Extensions" }))?;
            for s in reply["Extensions"].as_array().into_iter().flatten() {
                say(extension_line(s));
            }
        }
        ExtensionCommand::Status { extension } => {
            let reply = session.call(json!({
                "$type": "Extensions.Messages.GetExtensionStatusRequest",
                "_domain": "Extensions",
                "ExtensionID": extension,
            }))?;
            say(extension_line(&reply));
        }
        ExtensionCommand::Start { extension } => extension_simple(session, "StartExtensionRequest", extension)?,
        ExtensionCommand::Stop { extension } => extension_simple(session, "StopExtensionRequest", extension)?,
        ExtensionCommand::Rm { extension } => extension_simple(session, "RemoveExtensionRequest", extension)?,
        ExtensionCommand::Logs { extension, follow } => {
            let mut since = 0i64;
            loop {
                let reply = session.call(json!({
                    "$type": "Extensions.Messages.GetExtensionLogRequest",
                    "_domain": "Extensions",
                    "ExtensionID": extension,
                    "Since": since,
                }))?;
                for line in reply["Lines"].as_array().into_iter().flatten() {
                    since = since.max(line["Seq"].as_i64().unwrap_or(since));
                    say(format!(
                        "{} {:<5} {}",
                        line["Time"],
                        line["Level"].as_str().unwrap_or(""),
                        line["Text"].as_str().unwrap_or("")
                    ));
                }
                if !follow {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
    Ok(())
}

fn extension_simple(session: &Session, type_name: &str, extension: &str) -> anyhow::Result<()> {
    session.call(json!({
        "$type": format!("Extensions.Messages.{type_name}"),
        "_domain": "Extensions",
        "ExtensionID": extension,
    }))?;
    eprintln!("ok");
    Ok(())
}
