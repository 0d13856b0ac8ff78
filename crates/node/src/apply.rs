//! Applies a plan in an order that can be undone: directories, then files (each new file
//! written beside its target, verified, and renamed over it; the old one kept until the
//! end), then the firewall rule, then the service. A failing step undoes the steps before
//! it in reverse; whatever cannot be undone is named in the error.
//!
//! Files are plain `std::fs` on every OS (under a root directory in tests); the service
//! manager and the firewall are behind [`System`] (`crate::windows::WindowsSystem`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::artifacts::sha256_file;
use crate::paths::host_path;
use crate::plan::{Action, FileSource, FirewallRule, Plan, ServiceDefinition};

/// What only Windows can do.
pub trait System {
    /// Creates (`existing == false`) or reconfigures the service: command line,
    /// dependencies, automatic start, failure actions. A create that fails half-way
    /// removes what it created.
    fn install_service(&mut self, def: &ServiceDefinition, existing: bool) -> Result<(), Error>;
    /// Removes a service this run created.
    fn remove_service(&mut self, name: &str) -> Result<(), Error>;
    fn add_firewall_rule(&mut self, rule: &FirewallRule) -> Result<(), Error>;
    fn remove_firewall_rule(&mut self, rule: &FirewallRule) -> Result<(), Error>;
}

/// One step done, with what undoes it.
enum Done {
    Dir(PathBuf),
    File {
        dest: PathBuf,
        backup: Option<PathBuf>,
    },
    Firewall(FirewallRule),
    ServiceCreated(String),
}

/// What was changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub directories: usize,
    pub files: usize,
    pub service: bool,
    pub firewall: bool,
}

fn suffixed(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn undo(done: Vec<Done>, sys: &mut dyn System) -> String {
    let mut left = Vec::new();
    for d in done.into_iter().rev() {
        match d {
            Done::Dir(p) => {
                if let Err(e) = std::fs::remove_dir(&p) {
                    left.push(format!("remove the directory {} ({e})", p.display()));
                }
            }
            Done::File { dest, backup } => {
                let r = match &backup {
                    Some(b) => std::fs::rename(b, &dest),
                    None => std::fs::remove_file(&dest),
                };
                if let Err(e) = r {
                    left.push(match backup {
                        Some(b) => format!("move {} back to {} ({e})", b.display(), dest.display()),
                        None => format!("delete {} ({e})", dest.display()),
                    });
                }
            }
            Done::Firewall(rule) => {
                if let Err(e) = sys.remove_firewall_rule(&rule) {
                    left.push(format!(
                        "delete the firewall rule: {} ({e})",
                        crate::plan::windows_command_line(&rule.delete_command())
                    ));
                }
            }
            Done::ServiceCreated(name) => {
                if let Err(e) = sys.remove_service(&name) {
                    left.push(format!("delete the service: sc.exe delete {name} ({e})"));
                }
            }
        }
    }
    if left.is_empty() {
        "the steps done before were undone: the node is as it was".into()
    } else {
        format!(
            "could not undo everything; by hand:\n  - {}",
            left.join("\n  - ")
        )
    }
}

/// Applies `plan`. `staged` maps each artifact file step's path to a verified copy of its
/// content (see [`crate::artifacts::stage`]); generated files come from the plan.
pub fn apply(
    plan: &Plan,
    root: Option<&Path>,
    staged: &BTreeMap<String, PathBuf>,
    sys: &mut dyn System,
) -> Result<Applied, Error> {
    if !plan.ready() {
        return Err(Error::System(crate::render::not_ready_message(plan)));
    }
    let mut done = Vec::new();
    let mut applied = Applied::default();
    match apply_steps(plan, root, staged, sys, &mut done, &mut applied) {
        Ok(()) => {
            // Committed: the old files are no longer needed.
            for d in &done {
                if let Done::File {
                    backup: Some(b), ..
                } = d
                {
                    let _ = std::fs::remove_file(b);
                }
            }
            Ok(applied)
        }
        Err(e) => Err(Error::Applied {
            failed: format!("prepare failed: {e}"),
            undo: undo(done, sys),
        }),
    }
}

fn apply_steps(
    plan: &Plan,
    root: Option<&Path>,
    staged: &BTreeMap<String, PathBuf>,
    sys: &mut dyn System,
    done: &mut Vec<Done>,
    applied: &mut Applied,
) -> Result<(), Error> {
    for d in plan.directories.iter().filter(|d| d.action.changes()) {
        let p = host_path(root, &d.path);
        if p.is_dir() {
            continue;
        }
        // Parents first in the plan, so one level at a time (each one undoable).
        if let Some(parent) = p.parent()
            && !parent.exists()
        {
            let mut missing = Vec::new();
            let mut cur = Some(parent);
            while let Some(c) = cur {
                if c.exists() {
                    break;
                }
                missing.push(c.to_path_buf());
                cur = c.parent();
            }
            for m in missing.into_iter().rev() {
                std::fs::create_dir(&m).map_err(|source| Error::Write {
                    path: m.clone(),
                    source,
                })?;
                done.push(Done::Dir(m));
            }
        }
        std::fs::create_dir(&p).map_err(|source| Error::Write {
            path: p.clone(),
            source,
        })?;
        done.push(Done::Dir(p));
        applied.directories += 1;
    }
    for f in plan.files.iter().filter(|f| f.action.changes()) {
        let dest = host_path(root, &f.path);
        let new = suffixed(&dest, ".winkube-new");
        let write_err = |source| Error::Write {
            path: new.clone(),
            source,
        };
        match &f.source {
            FileSource::Generated { content } => {
                std::fs::write(&new, content.as_bytes()).map_err(write_err)?
            }
            FileSource::Artifact { .. } => {
                let from = staged
                    .get(&f.path)
                    .ok_or_else(|| Error::System(format!("{} was not staged", f.path)))?;
                std::fs::copy(from, &new).map_err(write_err)?;
            }
        }
        let actual = sha256_file(&new)?;
        if actual != f.sha256 {
            let _ = std::fs::remove_file(&new);
            return Err(Error::ChecksumMismatch {
                what: f.path.clone(),
                expected: f.sha256.clone(),
                actual,
            });
        }
        let backup = if dest.exists() {
            let b = suffixed(&dest, ".winkube-old");
            std::fs::rename(&dest, &b).map_err(|source| Error::Write {
                path: b.clone(),
                source,
            })?;
            Some(b)
        } else {
            None
        };
        if let Err(source) = std::fs::rename(&new, &dest) {
            let _ = std::fs::remove_file(&new);
            if let Some(b) = &backup {
                let _ = std::fs::rename(b, &dest);
            }
            return Err(Error::Write { path: dest, source });
        }
        done.push(Done::File { dest, backup });
        applied.files += 1;
    }
    if plan.firewall.action == Action::Create {
        sys.add_firewall_rule(&plan.firewall.rule)?;
        done.push(Done::Firewall(plan.firewall.rule.clone()));
        applied.firewall = true;
    }
    let s = &plan.service;
    if s.action.changes() {
        sys.install_service(&s.definition, s.action == Action::Replace)?;
        if s.action == Action::Create {
            done.push(Done::ServiceCreated(s.definition.name.clone()));
        }
        applied.service = true;
    }
    Ok(())
}
