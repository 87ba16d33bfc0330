//! `dispatcher script new | build`: script projects from the templates in
//! `host/server/templates/` (embedded), and the one build command per
//! language, whose result is checked the way the host checks an upload.
//!
//! A project folder holds its sources, a copy of the host's WIT package
//! (`wit/*.wit`, versioned by its `package` line), a README and
//! `dispatcher-script.json` (name, language, template, grants), which `build`
//! and `dev` read.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

/// The project file `new` writes and `build`/`dev` read.
pub const PROJECT_FILE: &str = "dispatcher-script.json";

/// The WIT package version the templates target.
pub const WIT_VERSION: &str = "0.1.0";

/// componentize-py as the guest examples pin it.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";

/// What can go wrong making or building a project; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AuthorError {
    #[error("unknown language {0:?}: choose rust, python or js")]
    Language(String),
    #[error("unknown template {0:?}: choose touch, chat, timer or storage")]
    Template(String),
    #[error("{0:?} is not a usable script name: use letters, digits, '-' and '_' (starting with a letter)")]
    Name(String),
    #[error("{0} already exists; choose another name or remove it")]
    Exists(PathBuf),
    #[error("{0} has no {PROJECT_FILE}: not a script project (make one with `dispatcher script new NAME --lang rust`)")]
    NotAProject(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{PROJECT_FILE} is not valid: {0}")]
    Project(String),
    #[error("{tool} is not installed; install it with `{install}`")]
    Toolchain { tool: String, install: String },
    #[error("the build failed:\n{0}")]
    Build(String),
    #[error("the component would be refused by the host: {0}")]
    Refused(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuthorError + '_ {
    move |source| AuthorError::Io {
        path: path.to_owned(),
        source,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Rust,
    Python,
    Js,
}

impl Language {
    pub fn parse(text: &str) -> Result<Language, AuthorError> {
        match text.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Ok(Language::Rust),
            "python" | "py" => Ok(Language::Python),
            "js" | "javascript" => Ok(Language::Js),
            _ => Err(AuthorError::Language(text.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
        }
    }

    fn display(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::Js => "JavaScript",
        }
    }

    /// The source file an author edits.
    pub fn source(self) -> &'static str {
        match self {
            Language::Rust => "src/lib.rs",
            Language::Python => "app.py",
            Language::Js => "app.js",
        }
    }
}

const TEMPLATES: [&str; 4] = ["touch", "chat", "timer", "storage"];

/// The grants each template's script needs.
fn template_grants(template: &str) -> Vec<&'static str> {
    match template {
        "touch" | "chat" => vec!["chat"],
        "storage" => vec!["storage"],
        _ => vec![],
    }
}

fn template_source(lang: Language, template: &str) -> Option<&'static str> {
    Some(match (lang, template) {
        (Language::Rust, "touch") => include_str!("../templates/rust/touch.rs"),
        (Language::Rust, "chat") => include_str!("../templates/rust/chat.rs"),
        (Language::Rust, "timer") => include_str!("../templates/rust/timer.rs"),
        (Language::Rust, "storage") => include_str!("../templates/rust/storage.rs"),
        (Language::Python, "touch") => include_str!("../templates/python/touch.py"),
        (Language::Python, "chat") => include_str!("../templates/python/chat.py"),
        (Language::Python, "timer") => include_str!("../templates/python/timer.py"),
        (Language::Python, "storage") => include_str!("../templates/python/storage.py"),
        (Language::Js, "touch") => include_str!("../templates/js/touch.js"),
        (Language::Js, "chat") => include_str!("../templates/js/chat.js"),
        (Language::Js, "timer") => include_str!("../templates/js/timer.js"),
        (Language::Js, "storage") => include_str!("../templates/js/storage.js"),
        _ => return None,
    })
}

/// The host's WIT package, copied into every project.
const WIT_FILES: [(&str, &str); 17] = [
    ("assets.wit", include_str!("../../../wit/assets.wit")),
    ("avatars.wit", include_str!("../../../wit/avatars.wit")),
    ("chat.wit", include_str!("../../../wit/chat.wit")),
    ("domain.wit", include_str!("../../../wit/domain.wit")),
    ("extension.wit", include_str!("../../../wit/extension.wit")),
    ("handlers.wit", include_str!("../../../wit/handlers.wit")),
    ("log.wit", include_str!("../../../wit/log.wit")),
    ("messages.wit", include_str!("../../../wit/messages.wit")),
    ("objects.wit", include_str!("../../../wit/objects.wit")),
    ("parts.wit", include_str!("../../../wit/parts.wit")),
    ("region.wit", include_str!("../../../wit/region.wit")),
    ("self.wit", include_str!("../../../wit/self.wit")),
    ("storage.wit", include_str!("../../../wit/storage.wit")),
    ("terrain.wit", include_str!("../../../wit/terrain.wit")),
    ("timers.wit", include_str!("../../../wit/timers.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("world.wit", include_str!("../../../wit/world.wit")),
];

/// A project as its project file describes it.
#[derive(Clone, Debug)]
pub struct Project {
    pub dir: PathBuf,
    pub name: String,
    pub language: Language,
    pub grants: Vec<String>,
}

impl Project {
    pub fn open(dir: &Path) -> Result<Project, AuthorError> {
        let file = dir.join(PROJECT_FILE);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(AuthorError::NotAProject(dir.to_owned())),
            Err(e) => return Err(io(&file)(e)),
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| AuthorError::Project(e.to_string()))?;
        let field = |k: &str| {
            v[k].as_str()
                .map(str::to_owned)
                .ok_or_else(|| AuthorError::Project(format!("{k} is missing")))
        };
        let name = field("name")?;
        check_name(&name)?;
        Ok(Project {
            dir: dir.to_owned(),
            language: Language::parse(&field("language")?)?,
            grants: v["grants"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect(),
            name,
        })
    }

    /// Where `build` writes the component.
    pub fn output(&self) -> PathBuf {
        self.dir.join(format!("{}.wasm", self.name))
    }

    /// The files whose change means a rebuild (`dev` watches these).
    pub fn is_source(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.dir) else {
            return false;
        };
        let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
        if matches!(first.as_deref(), Some("target" | "node_modules" | "__pycache__")) {
            return false;
        }
        matches!(path.extension().and_then(|e| e.to_str()), Some("rs" | "py" | "js" | "mjs" | "wit" | "toml"))
    }
}

fn check_name(name: &str) -> Result<(), AuthorError> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(AuthorError::Name(name.to_owned()))
    }
}

fn write(path: &Path, text: &str) -> Result<(), AuthorError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, text).map_err(io(path))
}

fn fill(text: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(text.to_owned(), |t, (k, v)| t.replace(&format!("{{{{{k}}}}}"), v))
}

/// `dispatcher script new`: the project folder `parent/NAME`.
pub fn new_project(parent: &Path, name: &str, lang: &str, template: &str) -> Result<Project, AuthorError> {
    check_name(name)?;
    let language = Language::parse(lang)?;
    let template = template.to_ascii_lowercase();
    if !TEMPLATES.contains(&template.as_str()) {
        return Err(AuthorError::Template(template));
    }
    let source = template_source(language, &template).ok_or_else(|| AuthorError::Template(template.clone()))?;
    let dir = parent.join(name);
    if dir.exists() {
        return Err(AuthorError::Exists(dir));
    }
    let crate_name = name.replace('-', "_").to_ascii_lowercase();
    let grants = template_grants(&template);
    let output = format!("{name}.wasm");
    let grants_text = if grants.is_empty() { "none".to_owned() } else { grants.join(", ") };
    let vars = [
        ("name", name),
        ("crate", crate_name.as_str()),
        ("language", language.display()),
        ("template", template.as_str()),
        ("wit_version", WIT_VERSION),
        ("output", output.as_str()),
        ("source", language.source()),
        ("grants", grants_text.as_str()),
    ];
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    write(&dir.join(language.source()), &fill(source, &vars))?;
    match language {
        Language::Rust => write(&dir.join("Cargo.toml"), &fill(include_str!("../templates/rust/Cargo.toml"), &vars))?,
        Language::Python => {}
        Language::Js => {
            write(&dir.join("build.mjs"), &fill(include_str!("../templates/js/build.mjs"), &vars))?;
            write(&dir.join("package.json"), &fill(include_str!("../templates/js/package.json"), &vars))?;
        }
    }
    for (file, text) in WIT_FILES {
        write(&dir.join("wit").join(file), text)?;
    }
    write(&dir.join("README.md"), &fill(include_str!("../templates/README.md"), &vars))?;
    let project = json!({
        "name": name,
        "language": language.as_str(),
        "template": template,
        "wit": format!("opensim:dispatcher@{WIT_VERSION}"),
        "grants": grants,
    });
    let text = serde_json::to_string_pretty(&project).map_err(|e| AuthorError::Project(e.to_string()))?;
    write(&dir.join(PROJECT_FILE), &(text + "\n"))?;
    Ok(Project {
        dir,
        name: name.to_owned(),
        language,
        grants: grants.into_iter().map(str::to_owned).collect(),
    })
}

/// Run a build step; its output when it fails.
fn run(cmd: &mut Command, tool: &str, install: &str) -> Result<(), AuthorError> {
    let out = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => AuthorError::Toolchain {
            tool: tool.to_owned(),
            install: install.to_owned(),
        },
        _ => AuthorError::Build(format!("cannot run {tool}: {e}")),
    })?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    Err(AuthorError::Build(text.trim_end().to_owned()))
}

/// The componentize-py to use: `DISPATCHER_COMPONENTIZE_PY`, else the one on
/// the PATH.
fn componentize_py() -> String {
    std::env::var("DISPATCHER_COMPONENTIZE_PY").unwrap_or_else(|_| "componentize-py".into())
}

/// `dispatcher script build`: compile, then check the component as the
/// host's upload would (`limits`). Returns the component's path and size.
pub fn build(project: &Project, limits: &dispatcher_scripting::ScriptingLimits) -> Result<(PathBuf, usize), AuthorError> {
    let out = project.output();
    let dir = &project.dir;
    match project.language {
        Language::Rust => {
            let targets = Command::new("rustup").args(["target", "list", "--installed"]).output();
            if let Ok(t) = targets {
                if t.status.success() && !String::from_utf8_lossy(&t.stdout).lines().any(|l| l.trim() == "wasm32-wasip2") {
                    return Err(AuthorError::Toolchain {
                        tool: "the wasm32-wasip2 Rust target".into(),
                        install: "rustup target add wasm32-wasip2".into(),
                    });
                }
            }
            let target_dir = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.join("target"));
            run(
                Command::new("cargo")
                    .args(["build", "--release", "--quiet", "--target", "wasm32-wasip2"])
                    .env("CARGO_TARGET_DIR", &target_dir)
                    .env_remove("RUSTFLAGS")
                    .current_dir(dir),
                "cargo",
                "curl https://sh.rustup.rs -sSf | sh",
            )?;
            let artefact = target_dir
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", project.name.replace('-', "_").to_ascii_lowercase()));
            std::fs::copy(&artefact, &out).map_err(io(&artefact))?;
        }
        Language::Python => run(
            Command::new(componentize_py())
                .args(["-d", "wit", "-w", "region-script", "componentize", "--stub-wasi", "app", "-o"])
                .arg(&out)
                .current_dir(dir),
            "componentize-py",
            &format!("pip install {COMPONENTIZE_PY}"),
        )?,
        Language::Js => {
            if !dir.join("node_modules/@bytecodealliance/componentize-js").exists() {
                return Err(AuthorError::Toolchain {
                    tool: "componentize-js".into(),
                    install: format!("cd {} && npm install", dir.display()),
                });
            }
            run(
                Command::new("node").arg("build.mjs").arg(&out).current_dir(dir),
                "node",
                "apt-get install nodejs (or see https://nodejs.org)",
            )?
        }
    }
    let bytes = std::fs::read(&out).map_err(io(&out))?;
    dispatcher_scripting::check_component(&bytes, limits).map_err(AuthorError::Refused)?;
    Ok((out, bytes.len()))
}

/// `build` with progress on standard error.
pub fn build_verbose(project: &Project, limits: &dispatcher_scripting::ScriptingLimits) -> Result<PathBuf, AuthorError> {
    let started = Instant::now();
    eprintln!("building {} ({})...", project.name, project.language.display());
    let (path, size) = build(project, limits)?;
    eprintln!(
        "built {} ({} KiB) in {:.1} s; imports checked against the host's rules",
        path.display(),
        size / 1024,
        started.elapsed().as_secs_f64()
    );
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_template() {
        for lang in [Language::Rust, Language::Python, Language::Js] {
            for t in TEMPLATES {
                assert!(template_source(lang, t).is_some_and(|s| s.contains("{{name}}")), "{lang:?} {t}");
            }
        }
    }

    #[test]
    fn bad_names_languages_and_templates_are_refused_and_nothing_is_written() {
        let dir = std::env::temp_dir().join(format!("dispatcher-author-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let err = new_project(&dir, "lamp", "cobol", "touch").expect_err("language");
        assert!(err.to_string().contains("unknown language \"cobol\""), "{err}");
        let err = new_project(&dir, "lamp", "rust", "dance").expect_err("template");
        assert!(err.to_string().contains("unknown template \"dance\""), "{err}");
        for bad in ["../x", "", "1x", "a b"] {
            assert!(matches!(new_project(&dir, bad, "rust", "touch"), Err(AuthorError::Name(_))), "{bad}");
        }
        assert_eq!(std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0), 0, "nothing written");
        let p = new_project(&dir, "lamp", "rust", "storage").expect("new");
        assert_eq!(p.grants, vec!["storage"]);
        assert!(p.dir.join("wit/world.wit").exists() && p.dir.join("src/lib.rs").exists());
        assert!(matches!(new_project(&dir, "lamp", "rust", "touch"), Err(AuthorError::Exists(_))));
        let opened = Project::open(&p.dir).expect("open");
        assert_eq!((opened.name.as_str(), opened.language), ("lamp", Language::Rust));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
